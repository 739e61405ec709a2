"""Test-only control API of the simulator (plain HTTP, loopback only).

Routes (JSON in and out)::

    GET  /control/meldingen                  reports: meldingsnummer, document_id, brin,
                                             verzuimsoort, status, reden, toelichting,
                                             behandelaar, laatste_mutatie, bijlagen
                                             ([{bijlage_id, bestandsnaam, mime_type,
                                             size, sha256}] of the content received), melding
    POST /control/meldingen                  {"brin": "00AA", "melding": {canonical report}}
                                             a report typed into DUO's web counter by the
                                             school: registered (R) with a new meldingsnummer
                                             and in the changed-reports feed, no document_id;
                                             answers its control view (as GET). The report
                                             is the canonical JSON of docs/canonical-format.md
                                             (``brin`` defaults to the report's own); no
                                             DUO rule is applied. 400 on a malformed report
    GET  /control/ledger                     {document_id: registrations}
    POST /control/meldingen/<nr>/status      {status, reden?, toelichting?, behandelaar?}
    POST /control/reset                      forget reports, ledger, faults
    POST /control/rod                        {"students": [{bsn|onderwijsnummer, geboortedatum}]}
    POST /control/faults                     {"mode": http_503|server_fault|delay|
                                              commit_then_hang|hang_then_drop|
                                              bad_signature|unsigned,
                                              "count": n, "seconds": s, "operation"?: name}
                                             (with "operation", only that operation's
                                             calls take the fault)
    POST /control/schoning                   {"before": "YYYY-MM-DD"}: DUO's yearly purge,
                                             forgets reports last changed before it
                                             (answers {"forgotten": n})
    POST /control/mandates                   {"mandates": {"<cert OIN>": ["<school OIN>", …]}}
                                             replaces the SaaS mandate table

The responses contain personal data (that is their purpose): this API binds to
loopback only and is never part of a production deployment.
"""

from __future__ import annotations

import json
from datetime import date
import re
import time
from typing import Any

from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from adapter.simulator.model import Officer, Status, report_from_json, report_json
from adapter.simulator.state import FAULT_MODES, FaultPlan, SimMelding, SimState

MAX_BODY_BYTES = 1024 * 1024
BRIN_RE = re.compile(r"[0-9]{2}[0-9A-Z]{2}")
_BEHANDELAAR_KEYS = ("naam", "telefoonnummer", "emailadres", "organisatie")


def melding_json(sim: SimMelding) -> dict[str, Any]:
    """The control view of one report (includes the full received report)."""
    b = sim.behandelaar
    return {
        "meldingsnummer": sim.meldingsnummer, "document_id": sim.document_id, "brin": sim.brin,
        "verzuimsoort": sim.report.soort.value, "status": sim.status.value,
        "reden": sim.reden, "toelichting": sim.toelichting,
        "behandelaar": b.as_dict(),
        "laatste_mutatie": sim.laatste_mutatie.isoformat(), "bijlagen": list(sim.bijlagen),
        "melding": report_json(sim.report),
    }


class ControlApp:
    """WSGI app over a :class:`SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.urls = Map([
            Rule("/control/meldingen", methods=["GET"], endpoint="meldingen"),
            Rule("/control/meldingen", methods=["POST"], endpoint="web_report"),
            Rule("/control/ledger", methods=["GET"], endpoint="ledger"),
            Rule("/control/meldingen/<nummer>/status", methods=["POST"], endpoint="status"),
            Rule("/control/reset", methods=["POST"], endpoint="reset"),
            Rule("/control/rod", methods=["POST"], endpoint="rod"),
            Rule("/control/faults", methods=["POST"], endpoint="faults"),
            Rule("/control/mandates", methods=["POST"], endpoint="mandates"),
            Rule("/control/schoning", methods=["POST"], endpoint="schoning"),
        ])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES
        try:
            endpoint, args = self.urls.bind_to_environ(environ).match()
            result = getattr(self, f"_{endpoint}")(request, **args)
            response = Response(json.dumps(result), mimetype="application/json")
        except HTTPException as exc:
            response = Response(json.dumps({"error": exc.description}),
                                status=exc.code or 500, mimetype="application/json")
        return response(environ, start_response)

    @staticmethod
    def _json(request: Request) -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object")
        return data

    def _meldingen(self, request: Request) -> list[dict[str, Any]]:
        with self.state.lock:
            return [melding_json(s) for s in sorted(self.state.meldingen.values(),
                                                    key=lambda s: int(s.meldingsnummer))]

    def _web_report(self, request: Request) -> dict[str, Any]:
        data = self._json(request)
        melding = data.get("melding")
        brin = data.get("brin") or (melding.get("brin") if isinstance(melding, dict) else None)
        if not isinstance(brin, str) or not BRIN_RE.fullmatch(brin):
            raise BadRequest("brin must be a BRIN (2 digits, 2 capitals or digits)")
        try:
            report = report_from_json(melding, brin)
        except (KeyError, ValueError, TypeError, AttributeError):
            raise BadRequest("melding must be a report in the canonical JSON format (student "
                             "with bsn or onderwijsnummer, verzuimsoort, begindatum, "
                             "vermoedelijke_reden, melder with naam and emailadres)") from None
        sim = self.state.add_web_report(report, monotonic_now=time.monotonic())
        with self.state.lock:
            return melding_json(sim)

    def _ledger(self, request: Request) -> dict[str, int]:
        with self.state.lock:
            return dict(self.state.ledger)

    def _status(self, request: Request, nummer: str) -> dict[str, Any]:
        data = self._json(request)
        try:
            status = Status(data.get("status"))
        except ValueError:
            raise BadRequest("status must be one of R B G K I D") from None
        beh = data.get("behandelaar")
        if beh is not None and (not isinstance(beh, dict) or set(beh) - set(_BEHANDELAAR_KEYS)):
            raise BadRequest(f"behandelaar takes {', '.join(_BEHANDELAAR_KEYS)}")
        with self.state.lock:
            sim = self.state.meldingen.get(nummer)
            if sim is None:
                raise NotFound("no such meldingsnummer")
            self.state.set_status(
                sim, status, monotonic_now=time.monotonic(), reden=data.get("reden"),
                toelichting=data.get("toelichting"),
                behandelaar=Officer(**beh) if beh is not None else None)
            return melding_json(sim)

    def _reset(self, request: Request) -> dict[str, Any]:
        self.state.reset()
        return {"ok": True}

    def _rod(self, request: Request) -> dict[str, Any]:
        students = self._json(request).get("students")
        if not isinstance(students, list):
            raise BadRequest("students must be a list")
        try:
            added = self.state.add_students(students)
        except (KeyError, ValueError, TypeError):
            raise BadRequest("each student needs bsn or onderwijsnummer and geboortedatum "
                             "(YYYY-MM-DD)") from None
        return {"added": added}

    def _faults(self, request: Request) -> dict[str, Any]:
        data = self._json(request)
        try:
            operation = data.get("operation")
            plan = FaultPlan(mode=str(data.get("mode")), count=int(data.get("count", 1)),
                             seconds=float(data.get("seconds", 0.0)),
                             operation=str(operation) if operation else None)
            self.state.add_fault(plan)
        except (TypeError, ValueError):
            raise BadRequest(f"mode must be one of {', '.join(FAULT_MODES)}; "
                             "count an integer; seconds a number") from None
        return {"ok": True}

    def _schoning(self, request: Request) -> dict[str, Any]:
        try:
            before = date.fromisoformat(str(self._json(request).get("before")))
        except ValueError:
            raise BadRequest("before must be a date (YYYY-MM-DD)") from None
        return {"forgotten": self.state.schoning(before)}

    def _mandates(self, request: Request) -> dict[str, Any]:
        mandates = self._json(request).get("mandates")
        if not isinstance(mandates, dict):
            raise BadRequest("mandates must be an object")
        try:
            self.state.set_mandates(mandates)
        except ValueError:
            raise BadRequest("mandates must map a certificate OIN to a list of school OINs"
                             ) from None
        return {"mandates": len(mandates)}
