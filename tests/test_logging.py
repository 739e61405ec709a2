"""The redaction processor sits before the renderer and removes personal data."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest
import structlog

from adapter.logging import configure_logging, in_context


@pytest.fixture()
def captured() -> io.StringIO:
    buf = io.StringIO()
    configure_logging("debug", "json", stream=buf)
    yield buf
    structlog.contextvars.clear_contextvars()


def lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_personal_fields_removed_by_name(captured: io.StringIO) -> None:
    structlog.get_logger("t").info("record_seen", bsn="111222333", achternaam="Jansen",
                                   emailadres="x@y.nl", report_id=7)
    [line] = lines(captured)
    assert line["bsn"] == line["achternaam"] == line["emailadres"] == "[redacted]"
    assert line["report_id"] == 7
    assert "111222333" not in captured.getvalue() and "Jansen" not in captured.getvalue()


@pytest.mark.parametrize("text,leak", [
    ("student 123456782 absent", "123456782"),
    ("mail piet.puk@school.example.nl now", "piet.puk@school.example.nl"),
    ("call 06-12345678", "06-12345678"),
    ("call +31 20 123 4567", "+31 20 123 4567"),
    ("lives at 1234 AB", "1234 AB"),
    ("lives at 9999ZZ", "9999ZZ"),
])
def test_patterns_masked_in_free_text(captured: io.StringIO, text: str, leak: str) -> None:
    structlog.get_logger("t").warning("something_odd", note=text)
    assert leak not in captured.getvalue()
    assert lines(captured)[0]["event"] == "something_odd"


def test_nested_structures_and_foreign_records(captured: io.StringIO) -> None:
    structlog.get_logger("t").info("nested", data={"student": {"bsn": "1"}, "list": ["a@b.nl"]})
    logging.getLogger("pika.adapters").error("peer said %s", "123456782")
    out = captured.getvalue()
    assert "a@b.nl" not in out and "123456782" not in out
    assert len(lines(captured)) == 2


def test_ids_survive(captured: io.StringIO) -> None:
    doc = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    structlog.get_logger("t").info("report_registered", document_id=doc, meldingsnummer="100001")
    line = lines(captured)[0]
    assert line["document_id"] == doc and line["meldingsnummer"] == "100001"


def test_context_is_carried_into_worker_threads(captured: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(submission_id=42)
    worker = threading.Thread(target=in_context(lambda: structlog.get_logger("t").info("in_worker")))
    worker.start()
    worker.join()
    assert lines(captured)[0]["submission_id"] == 42


def test_zeep_and_urllib3_body_logging_never_enabled(captured: io.StringIO) -> None:
    configure_logging("debug", "json", stream=captured)
    for name in ("zeep.transports", "urllib3"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG)
