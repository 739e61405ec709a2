"""The one exception tree of verzuim-adapter, split by what the caller must do.

::

    AdapterError
    ├── RecordError            this record is bad: reject or dead-letter it, never retry
    │   ├── DecodeError        the whole message cannot be decoded (dead-letter queue)
    │   ├── RuleViolation      a record breaks a DUO rule (``rejected`` event)
    │   ├── UnknownVendor      no plugin registered for the message's vendor
    │   └── DuoRejected        DUO said no (functional errors, a record fault)
    │       └── StaleStamp     the report changed at DUO since our stamp (VZ903)
    ├── TransientError         try again later (bounded retries with backoff)
    ├── OutcomeUnknown         the request may have reached DUO: reconcile before resending
    │   └── DuplicateDocument  DUO saw this document id before: reconcile, never resend
    └── SystemFault            our set-up is broken (certificate, TLS, store, config):
        ├── ConfigError        pause and alert; nothing is dead-lettered or counted
        └── StoreUnavailable

Every error declares ``duo_fault``: DUO's fault code (``DK0004``, ``EK0031`` …) when
a SOAP fault from DUO caused it, else None. Messages never contain personal data:
they name rows, fields and rules, not values. Third-party exceptions are wrapped
at the boundary with ``raise … from``.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every error this package raises on purpose."""

    #: DUO's fault code when a SOAP fault from DUO caused this error; None otherwise.
    duo_fault: str | None = None

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled as its class, its args and every attribute, rebuilt without calling
        # ``__init__`` (subclasses take other arguments): the DUO worker process
        # (adapter.duo.worker) raises these in the daemon as they were raised in it.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[AdapterError], args: tuple[object, ...]) -> AdapterError:
    return cls.__new__(cls, *args)


class RecordError(AdapterError):
    """The record itself is bad; retrying it unchanged cannot help.

    ``position`` names the row (``row 7``) or JSON path (``$.meldingen[2]``),
    ``field`` the field and ``rule`` the rule; none of them carries a value.
    """

    def __init__(self, message: str, *, position: str | None = None,
                 field: str | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.field = field
        self.rule = rule


class DecodeError(RecordError):
    """The message body cannot be decoded at all (not JSON/CSV, too large, bad encoding)."""


class UnknownVendor(RecordError):
    """No vendor plugin is registered under the message's vendor name."""


class RuleViolation(RecordError):
    """A record breaks one or more DUO rules; ``violations`` lists (field, rule) pairs."""

    def __init__(self, violations: list[tuple[str, str]], *, position: str | None = None) -> None:
        self.violations = list(violations)
        text = "; ".join(f"{f}: {r}" for f, r in self.violations)
        first_field, first_rule = self.violations[0] if self.violations else (None, None)
        super().__init__(f"rule violation: {text}", position=position,
                         field=first_field, rule=first_rule)


class TransientError(AdapterError):
    """Temporary failure that did not reach (or was not processed by) DUO: retry later."""


class OutcomeUnknown(AdapterError):
    """The request may have been processed by DUO: reconcile by business-document id first."""


class DuplicateDocument(OutcomeUnknown):
    """DUO says this business-document id was used before: the earlier send arrived.

    Evidence, not a rejection: reconcile (look the document up) and never send it
    again, the same as for any other unknown outcome.
    """


class SystemFault(AdapterError):
    """Our own set-up is broken: pause submissions, alert, count nothing against a record."""


class ConfigError(SystemFault):
    """Configuration is invalid; the message names the key, never a secret."""


class StoreUnavailable(SystemFault):
    """The store cannot be written (disk full, database down)."""


class StoreFault(SystemFault):
    """The store failed otherwise than by being out of reach: a bug in our SQL, or a
    driver's surprise. Neither the record's fault nor a plugin's: the intake lets the
    delivery go back to the broker, whose delivery limit is the net if it repeats."""


class DuoRejected(RecordError):
    """DUO answered ``leveringGoedgekeurd=false`` or a record-caused ``Client.*`` fault.

    ``errors`` is a list of ``(code, text)`` as DUO sent them; DUO's texts
    describe rules, not values.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        codes = ", ".join(code for code, _ in self.errors) or "unknown"
        super().__init__(f"DUO rejected the report: {codes}")


class StaleStamp(DuoRejected):
    """DUO refused a ``wijzigen``/``intrekken`` because the report changed since the
    mutation stamp we sent (``VZ903``): fetch DUO's version, take its stamp, try once more.
    """
