"""DUO's feedback (terugmeldingen) and the poller's watermarks.

Feedback is deduplicated on (meldingsnummer, laatste_mutatie); the watermark is
saved in the same transaction as the events it covers, so a crash either keeps
both or neither (then the poll repeats and the duplicates are absorbed).

A report in the feed that the adapter never sent (typed into DUO's web counter
by the school) is stored once, by meldingsnummer, with ``origin`` ``web``: DUO's
feed names its meldingsnummer, BRIN, verzuimsoort, begindatum and einddatum,
status and officer, never the student, so that is all its archive row holds
(``payload``; no ``record``, a student key of its own, a synthetic business key
``duo:<meldingsnummer>`` under the BRIN's vendor — see :func:`web_vendor`). It is
``registered`` from the start, and its feedback is applied and published like
our own reports' (``terugmelding`` events without ``source_id``, with
``"origin": "web"``). A later mutation may change its verzuimsoort or period
(the school edited it at the counter): the row follows the newest mutation.
Should DUO's feed name one of our own reports before we know its meldingsnummer
and without our document id (the answer to our aanlevering was lost), it is
first stored as a web report and adopted by ours once the meldingsnummer is
known (:func:`adopt_web_report`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.model import Registratie, Status, Terugmelding
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import set_report_state
from adapter.store.common import (
    as_utc,
    content_hash,
    history,
    insert_ignore,
    record_key,
)
from adapter.store.feedback_page import (
    apply_plain_page,
    changes_report,
    feedback_data,
    feedback_event,
    is_newest,
    state_after,
)
from adapter.store.keylist import in_list
from adapter.store.outbox import outbox_events
from adapter.store.pseudonyms import need_secret
from adapter.store.registraties import registraties_by_student, report_context
from adapter.store.registraties_bulk import batched


def get_watermark(conn: Connection, name: str) -> datetime | None:
    return conn.execute(sa.select(t.watermarks.c.value)
                        .where(t.watermarks.c.name == name)).scalar_one_or_none()


def set_watermark(conn: Connection, name: str, value: datetime) -> None:
    updated = conn.execute(t.watermarks.update().where(t.watermarks.c.name == name)
                           .values(value=value)).rowcount
    if not updated:
        insert_ignore(conn, t.watermarks, {"name": name, "value": value}, ["name"])


def _report_for(conn: Connection, item: Terugmelding,
                known: dict[str, sa.Row[Any]]) -> sa.Row[Any] | None:
    """Our report for a feedback item: by meldingsnummer, else by the aanlevering's document id.

    ``known``: the page's reports read up front (:func:`_page_reports`); an entry is
    used once, so a second item for the same report reads it as the first one left it.
    The fallback matters when DUO registered a report whose answer we never got
    (outcome unknown): its feedback can arrive before reconciliation stores the
    meldingsnummer, and must not be skipped while the watermark moves on.
    """
    report = known.pop(item.meldingsnummer, None)
    if report is not None:
        return report
    report = conn.execute(_BY_NUMBER, {"meldingsnummer": item.meldingsnummer}).first()
    if report is not None or not item.identificatiecode_bedrijfsdocument:
        return report
    # A document id is one submission's (unique): one row at most.
    return conn.execute(_BY_DOCUMENTS, {
        "documents": [item.identificatiecode_bedrijfsdocument]}).first()


# Built once; without ``record`` (the SIS's own version, not needed here: not decrypted).
_REPORT_COLUMNS = [c for c in t.reports.c if c.name != "record"]
_BY_NUMBER = (sa.select(*_REPORT_COLUMNS)
              .where(t.reports.c.meldingsnummer == sa.bindparam("meldingsnummer"))
              .order_by(t.reports.c.id).limit(1).with_for_update(key_share=True))
_BY_NUMBERS = (sa.select(*_REPORT_COLUMNS)
               .where(in_list(t.reports.c.meldingsnummer, "numbers"))
               .order_by(t.reports.c.id).with_for_update(key_share=True))
_BY_DOCUMENTS: sa.Select[Any] = (
    sa.select(*_REPORT_COLUMNS, t.submissions.c.document_id.label("page_document"))
    .join(t.submissions, t.submissions.c.report_id == t.reports.c.id)
    .where(in_list(t.submissions.c.document_id, "documents"))
    .order_by(t.reports.c.id).with_for_update(of=t.reports, key_share=True))


def _page_reports(conn: Connection, items: Sequence[Terugmelding]
                  ) -> tuple[dict[str, sa.Row[Any]], dict[tuple[str, str, str], list[Registratie]]]:
    """The reports a page names, by meldingsnummer (the first by id, as
    :func:`_report_for` finds it; locked in id order), and the registrations of our
    own ones' students, by (vendor, BRIN, student key): a few statements per page
    instead of two per item.

    An item whose meldingsnummer no report holds yet is looked up by its document id,
    as :func:`_report_for` would: in a burst DUO's feed names reports whose answer the
    submitter has not stored yet (its write-behind), and the page can still be plain."""
    numbers = sorted({item.meldingsnummer for item in items})
    known: dict[str, sa.Row[Any]] = {}
    for batch in batched(numbers):
        for row in conn.execute(_BY_NUMBERS, {"numbers": list(batch)}):
            known.setdefault(row.meldingsnummer, row)
    numbered = {item.identificatiecode_bedrijfsdocument: item.meldingsnummer for item in items
                if item.meldingsnummer not in known and item.identificatiecode_bedrijfsdocument}
    for batch in batched(sorted(numbered)):
        for row in conn.execute(_BY_DOCUMENTS, {"documents": list(batch)}):
            known.setdefault(numbered[row.page_document], row)
    students: dict[tuple[str, str], set[str]] = {}
    for row in known.values():
        if row.origin != WEB:
            students.setdefault((row.vendor, row.brin), set()).add(row.student_key)
    regs: dict[tuple[str, str, str], list[Registratie]] = {}
    for (vendor, brin), skeys in students.items():
        found = registraties_by_student(conn, vendor, brin, skeys)
        regs.update({(vendor, brin, skey): found.get(skey, []) for skey in skeys})
    return known, regs


def _plain(items: Sequence[Terugmelding], known: dict[str, sa.Row[Any]]) -> bool:
    """Whether the page can be applied set-based (:mod:`adapter.store.feedback_page`):
    each item another meldingsnummer and another of our own reports."""
    numbers = [item.meldingsnummer for item in items]
    if len(set(numbers)) < len(numbers) or not all(
            number in known and known[number].origin == ADAPTER for number in numbers):
        return False
    return len({known[number].id for number in numbers}) == len(numbers)


ADAPTER, WEB = "adapter", "web"
#: The vendor of a web report when the store knows no SIS for its BRIN yet.
DEFAULT_VENDOR = "canonical"


def web_vendor(conn: Connection, brin: str, default: str = DEFAULT_VENDOR) -> str:
    """The SIS a web report of ``brin`` is told to: the vendor of the BRIN's newest
    report the adapter sent, else of its newest registration, else ``default``."""
    r, g = t.reports.c, t.registraties.c
    vendor = conn.execute(sa.select(r.vendor).where(r.brin == brin, r.origin == ADAPTER)
                          .order_by(r.id.desc()).limit(1)).scalar_one_or_none()
    if vendor is None:
        vendor = conn.execute(sa.select(g.vendor).where(g.brin == brin)
                              .order_by(g.id.desc()).limit(1)).scalar_one_or_none()
    return str(vendor) if vendor is not None else default


def _web_payload(item: Terugmelding, brin: str) -> dict[str, Any]:
    """What the archive keeps of a web report: DUO's feed names no student."""
    values = {"meldingsnummer": item.meldingsnummer, "brin": brin,
              "verzuimsoort": item.verzuimsoort,
              "begindatum": item.begindatum.isoformat() if item.begindatum else None,
              "einddatum": item.einddatum.isoformat() if item.einddatum else None}
    return {k: v for k, v in values.items() if v is not None}


def web_context(payload: dict[str, Any]) -> dict[str, Any]:
    """The event context of a web report: its origin, verzuimsoort and period."""
    return {"origin": WEB, **{k: payload[k] for k in ("verzuimsoort", "begindatum", "einddatum")
                              if payload.get(k)}}


def _store_web_report(conn: Connection, item: Terugmelding, brin: str, vendor: str,
                      now: datetime) -> sa.Row[Any]:
    """Insert the web report ``item`` names (once: the business key is derived from the
    meldingsnummer) and return its row, locked."""
    payload = _web_payload(item, brin)
    source_id = f"duo:{item.meldingsnummer}"
    skey = record_key(need_secret(conn), brin, source_id)
    report_id = insert_ignore(conn, t.reports, dict(
        vendor=vendor, brin=brin, source_id=source_id, student_key=skey,
        verzuimsoort=item.verzuimsoort or "", payload=payload, record=None,
        content_hash=content_hash(payload), state=S.REGISTERED, duo_status=None,
        meldingsnummer=item.meldingsnummer, laatste_mutatie=None, created_at=now,
        updated_at=now, origin=WEB), ["vendor", "brin", "source_id"])
    if report_id is not None:
        history(conn, report_id, "received_from_duo", at=now, to_state=S.REGISTERED,
                detail="typed into DUO's web counter")
    row = conn.execute(sa.select(t.reports).where(
        t.reports.c.vendor == vendor, t.reports.c.brin == brin,
        t.reports.c.source_id == source_id).with_for_update(key_share=True)).first()
    if row is None:  # cannot happen: inserted above, or the conflicting row was committed
        raise RuntimeError("web report vanished after an insert conflict")
    return row


def _follow_web_report(conn: Connection, report: sa.Row[Any], item: Terugmelding,
                       now: datetime) -> dict[str, Any]:
    """A newer mutation of a web report: keep its verzuimsoort and period current."""
    payload = {**report.payload, **_web_payload(item, report.brin)}
    if item.einddatum is None:
        payload.pop("einddatum", None)
    if payload != report.payload:
        conn.execute(t.reports.update().where(t.reports.c.id == report.id).values(
            payload=payload, content_hash=content_hash(payload),
            verzuimsoort=payload.get("verzuimsoort", report.verzuimsoort), updated_at=now))
    return payload


def apply_feedback(conn: Connection, items: Sequence[Terugmelding], *, watermark: datetime,
                   name: str, now: datetime, brin: str | None = None,
                   default_vendor: str = DEFAULT_VENDOR) -> int:
    """Record new feedback; save the watermark; count new events.

    Feedback for a report we did not send becomes a web report (module docstring)
    when its BRIN is known (the item's, else ``brin``, the BRIN polled); without one
    it is skipped."""
    new_events = 0
    vendors: dict[str, str] = {}
    known, regs = _page_reports(conn, items)
    if _plain(items, known):
        new_events = apply_plain_page(conn, items, known, regs, now=now)
        set_watermark(conn, name, as_utc(watermark))
        return new_events
    events: list[dict[str, Any]] = []
    for item in items:
        report = _report_for(conn, item, known)
        if report is None:
            item_brin = item.brin or brin
            if not item_brin:
                continue
            if item_brin not in vendors:
                vendors[item_brin] = web_vendor(conn, item_brin, default_vendor)
            report = _store_web_report(conn, item, item_brin, vendors[item_brin], now)
        mutation = as_utc(item.laatste_mutatie)
        data = feedback_data(item, mutation)
        status = str(data["status"])
        inserted = insert_ignore(conn, t.terugmeldingen, dict(
            report_id=report.id, meldingsnummer=item.meldingsnummer, laatste_mutatie=mutation,
            status=status, data=data, received_at=now), ["meldingsnummer", "laatste_mutatie"])
        if inserted is None:
            continue
        new_events += 1
        history(conn, report.id, "terugmelding", at=now, detail=f"status {status}")
        if is_newest(report, mutation):
            target = state_after(report.state, status)
            if changes_report(report, target, status, mutation):
                set_report_state(conn, report.id, report.state, target, now,
                                 "report_withdrawn", duo_status=status, laatste_mutatie=mutation)
            web_payload = (_follow_web_report(conn, report, item, now)
                           if report.origin == WEB else None)
        else:
            web_payload = report.payload if report.origin == WEB else None
        if web_payload is not None:
            source_id, context = None, web_context(web_payload)
        else:
            source_id, context = report.source_id, report_context(
                conn, report.id, row=report,
                regs=regs.get((report.vendor, report.brin, report.student_key)))
        events.append(feedback_event(item, report, source_id, {**context, **data}, mutation,
                                     now))
    outbox_events(conn, events)     # in item order, one statement
    set_watermark(conn, name, as_utc(watermark))
    return new_events


_WEB_WITH_NUMBER = sa.select(t.reports.c.id).where(
    t.reports.c.brin == sa.bindparam("brin"),
    t.reports.c.meldingsnummer == sa.bindparam("meldingsnummer"),
    t.reports.c.origin == WEB, t.reports.c.id != sa.bindparam("report_id"))


def adopt_web_report(conn: Connection, report_id: int, brin: str, meldingsnummer: str,
                     now: datetime) -> None:
    """Our report ``report_id`` was just registered as ``meldingsnummer``: when a web
    report with that number was stored first (DUO's feed named our report before we
    knew its number, and without our document id), it was ours all along. Its
    feedback moves to our report (the newest mutation deciding the status), the web
    row goes; the events it published stay published."""
    r = t.reports.c
    if conn.execute(_WEB_WITH_NUMBER, {"brin": brin, "meldingsnummer": meldingsnummer,
                                       "report_id": report_id}).first() is None:
        return      # the common case, one indexed look-up built once
    web = conn.execute(sa.select(t.reports).where(
        r.brin == brin, r.meldingsnummer == meldingsnummer, r.origin == WEB,
        r.id != report_id).with_for_update()).first()
    if web is None:
        return
    conn.execute(t.terugmeldingen.update().where(t.terugmeldingen.c.report_id == web.id)
                 .values(report_id=report_id))
    conn.execute(t.report_history.delete().where(t.report_history.c.report_id == web.id))
    conn.execute(t.reports.delete().where(r.id == web.id))
    history(conn, report_id, "web_report_adopted", at=now,
            detail=f"feedback of report {web.id}, stored before the meldingsnummer was known")
    ours = conn.execute(sa.select(t.reports).where(r.id == report_id)).one()
    if web.laatste_mutatie is not None and (
            ours.laatste_mutatie is None or web.laatste_mutatie > ours.laatste_mutatie):
        target = ours.state
        if web.duo_status == Status.I.value and ours.state == S.REGISTERED:
            target = S.WITHDRAWN
        set_report_state(conn, report_id, ours.state, target, now, "report_withdrawn",
                         duo_status=web.duo_status, laatste_mutatie=web.laatste_mutatie)
