"""DUO client: one zeep Client over two-way TLS, every outcome classified.

Contract of :class:`DuoClient`:

- one zeep ``Client`` per instance, WSDL/XSD from the package (no network), the
  endpoint overridden to ``duo.url``; safe to share between worker threads;
- every POST has an explicit ``(connect_timeout, read_timeout)``;
- WS-Addressing per Edukoppeling (see :mod:`adapter.duo.addressing`): ``wsa:From``
  carries the OIN of the school whose BRIN sends the call (SaaS: ``schools``;
  falling back to ``school.oin``), chosen per call, no shared mutable state; the
  response must carry ``wsa:RelatesTo`` = our ``wsa:MessageID``;
- WS-Security (:mod:`adapter.duo.wsse`): with ``duo.sign_requests`` every request
  is signed with the signing identity as the last step, and exactly the signed
  bytes are sent; with ``duo.verify_responses`` every non-fault response must be
  signed by ``duo.signature_cert`` over Body, Timestamp, token and its WSA headers
  incl. RelatesTo, else :class:`SystemFault` ``response_signature_invalid`` (the
  answer is not believed: nothing counts as registered). SOAP faults are
  classified on their code whether signed or not (a fault never makes us believe
  something was registered);
- every exchange that produced a request is handed to ``exchange_sink`` (request
  and response bytes exactly as sent and received, outcome, and the submission the
  call was made for: :data:`~adapter.duo.port.current_submission`) before the method
  returns or raises; an exception from the sink propagates (the evidence could not
  be kept);
- outcomes are raised as :mod:`adapter.errors` (table in :mod:`adapter.duo.classify`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Callable

import requests
import structlog
import zeep
import zeep.exceptions
from lxml import etree

from adapter.config import DuoSettings, SchoolSettings
from adapter.domain.model import Status, Terugmelding, Verzuimmelding
from adapter.duo import classify, contract, mapping
from adapter.duo.addressing import address_request, message_id_of
from adapter.duo.binding import SoapBinding
from adapter.duo.port import (
    ChangesPage,
    ExchangeRecord,
    SubmitResult,
    current_submission,
)
from adapter.duo.transport import DuoTransport, build_session
from adapter.duo.wsse import RESPONSE_PARTS, EnvelopeSigner
from adapter.duo.wsse_verify import SignatureInvalid, verify_envelope
from adapter.errors import (
    AdapterError,
    DuoRejected,
    DuplicateDocument,
    OutcomeUnknown,
    SystemFault,
    TransientError,
)
from adapter.pki.certs import load_pem_chain
from adapter.pki.identity import Credentials, load_credentials

# zeep.transports and urllib3 log whole bodies/headers at DEBUG: personal data. Never.
for _name in ("zeep.transports", "zeep.wsdl.bindings.soap", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)

log = structlog.get_logger(__name__)

_BINDING = f"{{{contract.CONTRACT_NS}}}Verzuim_V1_Binding"
_PARSERS = threading.local()


def _safe_parser() -> etree.XMLParser:
    """One lxml parser per thread (parsers are not shared across threads): no DTD,
    no entities, no network."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return parser


def _security(duo: DuoSettings, credentials: Credentials
              ) -> tuple[EnvelopeSigner | None, Any, requests.Session]:
    """The signer, DUO's signature certificate and the TLS session a client uses;
    ConfigError when a certificate, key or ``duo.signature_cert`` is unusable."""
    signer = (EnvelopeSigner(credentials.signing.private_key, credentials.signing.certificate,
                             ttl_seconds=duo.timestamp_ttl_seconds)
              if duo.sign_requests else None)
    duo_cert = load_pem_chain(duo.signature_cert)[0] if duo.verify_responses else None
    return signer, duo_cert, build_session(duo, credentials.tls)


def check_settings(duo: DuoSettings, credentials: Credentials) -> None:
    """What :class:`DuoClient` checks when it is built (ConfigError), without building
    it: for a client made elsewhere (:mod:`adapter.duo.worker`)."""
    _security(duo, credentials)[2].close()


class DuoClient:
    """Calls DUO's (or the simulator's) Verzuim_V1 service for one school
    (implements :class:`~adapter.duo.port.DuoPort`)."""

    def __init__(self, duo: DuoSettings, school: SchoolSettings, *,
                 schools: Sequence[SchoolSettings] = (),
                 credentials: Credentials | None = None,
                 exchange_sink: Callable[[ExchangeRecord], None] | None = None) -> None:
        """``school`` is the default sender; ``schools`` (SaaS) map each sending BRIN
        to its OIN for ``wsa:From``. ``credentials`` (TLS and signing identity) come
        from :func:`adapter.pki.identity.load_credentials`; None reads them from
        ``duo`` without a passphrase (unencrypted keys: tests, demo). Raises
        ConfigError when a certificate, key or ``duo.signature_cert`` is unusable."""
        self._duo = duo
        self._school = school
        self._oins = {s.brin: s.oin for s in (school, *schools)}
        self._sink = exchange_sink
        if credentials is None:
            credentials = load_credentials(duo, environ={})
        self._signer, self._duo_cert, self._session = _security(duo, credentials)
        transport = DuoTransport(self._session, (duo.connect_timeout, duo.read_timeout))
        settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True, xml_huge_tree=False)
        self._zeep = zeep.Client(str(contract.WSDL_PATH), transport=transport,
                                 settings=settings)
        self._binding = SoapBinding(self._zeep, _BINDING, duo.url)

    def from_oin(self, sender_brin: str) -> str:
        """The OIN in ``wsa:From`` for a call sent by ``sender_brin``."""
        return self._oins.get(sender_brin, self._school.oin)

    # ---- public operations ---------------------------------------------------------

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        """Submit a new report; ``document_id`` is the stable business-document id."""
        result = self._call(contract.AANLEVEREN, document_id, melding.brin,
                            **mapping.melding_fields(melding))
        return self._submit_result(result)

    def wijzigen(self, melding: Verzuimmelding, *, meldingsnummer: str, document_id: str,
                 laatste_mutatie: datetime | None = None) -> SubmitResult:
        """Amend report ``meldingsnummer`` with the full new content of ``melding``.

        ``laatste_mutatie`` (optional) is the last mutation stamp we know: DUO refuses
        the change (``VZ903``, :class:`StaleStamp`) when the report changed since.
        """
        result = self._call(contract.WIJZIGEN, document_id, melding.brin,
                            meldingsnummer=meldingsnummer, **_stamp(laatste_mutatie),
                            **mapping.melding_fields(melding))
        return self._submit_result(result)

    def intrekken(self, melding: Verzuimmelding, *, meldingsnummer: str,
                  document_id: str, laatste_mutatie: datetime | None = None) -> SubmitResult:
        """Withdraw report ``meldingsnummer`` (status I).

        ``laatste_mutatie`` (optional) is the last mutation stamp we know: DUO refuses
        the withdrawal (``VZ903``, :class:`StaleStamp`) when the report changed since.
        """
        result = self._call(contract.INTREKKEN, document_id, melding.brin,
                            meldingsnummer=meldingsnummer, **_stamp(laatste_mutatie),
                            brin=melding.brin)
        return self._submit_result(result)

    def opvragen(self, *, brin: str, document_id: str | None = None,
                 meldingsnummer: str | None = None) -> Terugmelding | None:
        """One report by meldingsnummer, or by the business-document id of any processed
        mutation of it (``aanleveren``, ``wijzigen`` or ``intrekken``: reconciliation).

        Returns None when DUO knows no such report (or processed no such document) for
        ``brin``.
        """
        if (document_id is None) == (meldingsnummer is None):
            raise ValueError("give exactly one of document_id and meldingsnummer")
        key = ({"meldingsnummer": meldingsnummer} if meldingsnummer is not None
               else {"identificatiecodeBedrijfsdocumentMutatie": document_id})
        result = self._call(contract.OPVRAGEN, None, brin, brin=brin, **key)
        item = getattr(result, "verzuimmelding", None)
        return mapping.terugmelding_from(item) if item is not None else None

    def opvragen_gewijzigd(self, *, brin: str, since: datetime | None) -> ChangesPage:
        """Reports of ``brin`` changed strictly after ``since`` (None: from the start)."""
        kwargs: dict[str, Any] = {"brin": brin}
        if since is not None:
            kwargs["selectiemoment"] = mapping.utc_text(since)
        result = self._call(contract.OPVRAGEN_GEWIJZIGD, None, brin, **kwargs)
        items = [mapping.terugmelding_from(i) for i in (result.verzuimmelding or [])]
        nxt = result.volgendSelectiemoment
        if nxt is not None:
            next_since = mapping.as_utc(nxt)
        elif items:
            next_since = max(i.laatste_mutatie for i in items)
        else:
            next_since = since or datetime(1970, 1, 1, tzinfo=timezone.utc)
        return ChangesPage(items=items, next_since=next_since, more=bool(result.meerGegevens))

    def aanleveren_bijlage(self, *, brin: str, meldingsnummer: str, bestandsnaam: str,
                           mime_type: str, inhoud: bytes, document_id: str) -> str | None:
        """Attach a file to a report; returns DUO's attachment id."""
        result = self._call(contract.AANLEVEREN_BIJLAGE, document_id, brin,
                            meldingsnummer=meldingsnummer, brin=brin, bestandsnaam=bestandsnaam,
                            mimeType=mime_type, inhoud=inhoud)
        return getattr(result, "bijlageId", None)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._session.close()

    def __enter__(self) -> "DuoClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the one call path ---------------------------------------------------------

    def _call(self, operation: str, document_id: str | None, sender: str, **fields: Any) -> Any:
        mutating = operation in contract.MUTATING
        header = mapping.bedrijfsdocument(document_id, sender, contract.DUO_INSTANTIE)
        try:
            envelope, http_headers = self._binding.request(operation, {**header, **fields})
        except AdapterError:
            raise
        except (zeep.exceptions.Error, TypeError, ValueError) as exc:
            # Our model produced something the contract cannot carry: a bug or a bad record.
            raise DuoRejected([("LOCAL", f"request cannot be serialised ({type(exc).__name__})")]
                              ) from None
        address_request(envelope, http_headers, duo_oin=self._duo.oin,
                        from_oin=self.from_oin(sender))
        if self._signer is not None:
            # Last step: sign the final tree, then send exactly its one serialisation.
            envelope = self._signer.sign(envelope)
        message = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        http_headers["Content-Type"] = "text/xml; charset=utf-8"
        message_id = message_id_of(envelope)
        own_id = header["identificatiecodeBedrijfsdocument"]
        started = datetime.now(timezone.utc)
        t0 = time.monotonic()
        response: requests.Response | None = None
        outcome = "unknown"
        reason: str | None = None
        try:
            try:
                response = self._zeep.transport.post(self._duo.url, message, http_headers)
            except requests.RequestException as exc:
                raise classify.transport_error(exc, mutating=mutating) from exc
            except OSError as exc:   # requests re-checks the cert/CA files on every call
                raise SystemFault(f"tls_files_unreadable ({type(exc).__name__})") from None
            result = self._interpret(operation, response, message_id, mutating)
            outcome = "ok"
            return result
        except AdapterError as exc:
            outcome = _outcome_of(exc)
            reason = str(exc)[:200]     # codes and check names only, never request data
            raise
        finally:
            duration = int((time.monotonic() - t0) * 1000)
            log.info("duo_exchange", operation=operation, document_id=own_id,
                     message_id=message_id, outcome=outcome, duration_ms=duration,
                     http_status=response.status_code if response is not None else None,
                     reason=reason)
            if self._sink is not None:
                self._sink(ExchangeRecord(
                    operation=operation, document_id=own_id, message_id=message_id,
                    request_xml=message,
                    response_xml=response.content if response is not None else None,
                    http_status=response.status_code if response is not None else None,
                    outcome=outcome, started_at=started, duration_ms=duration,
                    submission_id=current_submission.get()))

    def _interpret(self, operation: str, response: requests.Response, message_id: str | None,
                   mutating: bool) -> Any:
        status = response.status_code
        if status == 200 and not response.content:
            raise _unreadable(mutating)
        if status not in (200, 500) or not response.content:
            raise classify.http_status_error(status, mutating=mutating)
        doc = None
        if b"<!DOCTYPE" not in response.content.upper():      # we never accept DTDs
            try:
                doc = etree.fromstring(response.content, _safe_parser())
            except etree.XMLSyntaxError:
                doc = None
        if doc is None:
            if status == 500:
                raise classify.http_status_error(status, mutating=mutating)
            raise _unreadable(mutating)
        body = doc.find(f"{{{contract.SOAP11_NS}}}Body")
        is_fault = body.find(f"{{{contract.SOAP11_NS}}}Fault") if body is not None else None
        if self._duo_cert is not None and is_fault is None:
            try:
                verify_envelope(doc, trusted_cert=self._duo_cert, required_parts=RESPONSE_PARTS,
                                clock_skew=self._duo.clock_skew_seconds)
            except SignatureInvalid as exc:
                # Not provably DUO's answer: believe nothing in it (not even success).
                raise SystemFault(f"response_signature_invalid {exc}") from None
        try:
            if status == 200 and is_fault is None:
                # Read by plan: zeep's values without zeep's object per element, from
                # the document already parsed (and verified) above.
                result = self._binding.read(operation, _body_element(body))
            else:
                result = self._binding.reply(operation, response)    # zeep raises the fault
        except zeep.exceptions.Fault as fault:
            raise classify.fault_error(str(fault.code or ""), str(fault.message or ""),
                                       mutating=mutating) from None
        except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError):
            raise _unreadable(mutating) from None
        relates = [el.text for el in doc.iter(f"{{{contract.WSA_NS}}}RelatesTo")]
        if relates != [message_id]:
            # The answer is not provably ours (proxy mix-up?): a set-up fault.
            raise SystemFault("wsa_relates_to_mismatch")
        if not result.leveringGoedgekeurd:
            errors = [(str(f.foutcode), str(f.fouttekst)) for f in (result.foutmelding or [])]
            raise classify.rejection_error(errors)
        return result

    @staticmethod
    def _submit_result(result: Any) -> SubmitResult:
        if result.meldingsnummer is None or result.status is None:
            raise OutcomeUnknown("duo_response_without_meldingsnummer")
        return SubmitResult(meldingsnummer=str(result.meldingsnummer),
                            status=Status(result.status),
                            laatste_mutatie=mapping.as_utc(result.datumTijdLaatsteMutatie))


def _stamp(laatste_mutatie: datetime | None) -> dict[str, str]:
    """The ``datumTijdLaatsteMutatie`` field when we know a stamp (omitted otherwise)."""
    if laatste_mutatie is None:
        return {}
    return {"datumTijdLaatsteMutatie": mapping.utc_text(laatste_mutatie)}


def _body_element(body: etree._Element | None) -> etree._Element:
    """The one element in a SOAP Body (``ValueError`` when there is none, or no Body)."""
    children = [child for child in body if isinstance(child.tag, str)] if body is not None else []
    if len(children) != 1:
        raise ValueError("the SOAP Body holds no single element")
    return children[0]


def _unreadable(mutating: bool) -> AdapterError:
    return classify.outcome_unknown("duo_response_unreadable", mutating)


def _outcome_of(exc: AdapterError) -> str:
    if exc.duo_fault:
        return f"fault:{exc.duo_fault}"
    if isinstance(exc, DuplicateDocument):
        return "duplicate"
    if isinstance(exc, TransientError):
        return "transient"
    if isinstance(exc, OutcomeUnknown):
        return "unknown"
    if isinstance(exc, SystemFault):
        return "system"
    return "rejected"
