"""Encryption at rest (adapter.store.crypto): clear through the API, sealed in the tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from adapter.errors import ConfigError
from adapter.store import ExchangeRecord, Store
from adapter.store import schema as t
from adapter.store.crypto import PREFIX, Cipher
from adapter.store.pseudonyms import StudentKeySecret
from adapter.store.rotation import _raw

from .factories import T0, accept, report
from .test_bijlagen import LATER, attach

REDEN = "MRK-reden-Ochtendmist"
XML = b"<env><reden>MRK-envelope-Kraanvogel</reden></env>"
PDF = b"%PDF-1.7\n% MRK-bijlage-Roerdomp\n%%EOF\n"
MARKERS = ("MRK-reden", "MRK-envelope", "MRK-bijlage")


def fill(store: Store, source_id: str = "r1") -> int:
    accept(store, f"m-{source_id}", report(source_id, vermoedelijke_reden=REDEN))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.record_exchange(ExchangeRecord(
        operation="aanleverenVerzuimmelding", document_id=claim.document_id,
        message_id=f"urn:uuid:{source_id}", request_xml=XML, response_xml=XML, http_status=200,
        outcome="ok", started_at=T0, duration_ms=5, submission_id=claim.submission_id))
    store.mark_registered(claim.submission_id, meldingsnummer=f"47{source_id}", status="R",
                          laatste_mutatie=T0)
    assert attach(store, f"b-{source_id}", source_id, content=PDF) == "stored"
    return claim.report_id


def raw_values(store: Store) -> list[Any]:
    """Every encrypted column's stored form, undecrypted."""
    out: list[Any] = []
    with store.database.engine.connect() as conn:
        for table, names in t.ENCRYPTED:
            for name in names:
                out += [v for v in conn.execute(sa.select(_raw(table.c[name]))).scalars()
                        if v is not None]
    return out


def assert_sealed(store: Store) -> None:
    values = raw_values(store)
    assert values
    for value in values:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        assert isinstance(text, str) and text.startswith(PREFIX), text[:40]
        assert not any(marker in text for marker in MARKERS)


def assert_reads(store: Store, report_id: int) -> None:
    content = store.report_content(report_id)
    assert content is not None and content["payload"]["vermoedelijke_reden"] == REDEN
    [exchange] = store.exchanges_for(report_id)
    assert (exchange.request_xml, exchange.response_xml) == (XML, XML)
    with store.database.engine.connect() as conn:
        assert set(conn.execute(sa.select(t.bijlagen.c.content)).scalars()) == {PDF}
    assert [e for _, e in store.pending_events(100)]


@pytest.fixture
def reopen(store_url: str, student_secret: StudentKeySecret) -> Iterator[Any]:
    opened: list[Store] = []

    def _open(*keys: bytes) -> Store:
        s = Store.open(store_url, cipher=Cipher(list(keys)) if keys else None,
                       student_secret=student_secret)
        opened.append(s)
        return s
    yield _open
    for s in opened:
        s.close()


def test_personal_data_is_sealed_in_the_tables_and_clear_through_the_store(
        store: Store) -> None:
    report_id = fill(store)
    assert_sealed(store)
    assert_reads(store, report_id)


def test_rotation_keeps_every_row_readable_after_the_old_key_is_dropped(
        store_url: str, reopen: Any) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    first = reopen(old)
    report_id = fill(first)
    first.close()
    both = reopen(new, old)              # the new key placed first: new rows use it
    fill(both, "r2")
    assert both.rotate_key(batch=2) > 0
    assert both.rotate_key(batch=2) == 0       # done: nothing left on the old key
    both.close()
    only_new = reopen(new)
    assert_reads(only_new, report_id)
    assert_sealed(only_new)


def test_a_wrong_key_is_a_one_line_error_at_open(store: Store, reopen: Any) -> None:
    fill(store)
    with pytest.raises(ConfigError, match="cannot be decrypted with the configured key") as exc:
        reopen(Fernet.generate_key())
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="encryption is \"off\""):
        reopen()


def test_rows_stored_before_encryption_are_read_and_sealed_by_rotate(reopen: Any) -> None:
    clear = reopen()
    report_id = fill(clear)
    assert any(isinstance(v, dict) for v in raw_values(clear))
    clear.close()
    key = Fernet.generate_key()
    sealed = reopen(key)
    assert_reads(sealed, report_id)      # clear rows read as they are
    assert sealed.rotate_key() > 0
    assert_sealed(sealed)
    assert_reads(sealed, report_id)
