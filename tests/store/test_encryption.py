"""Encryption at rest (adapter.store.crypto): clear through the API, sealed in the tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from adapter.errors import ConfigError
from adapter.store import ExchangeRecord, Store
from adapter.store import schema as t
from adapter.store.crypto import COMPRESS_FROM, PREFIX, PREFIX_BYTES, COMPRESSED_BYTES, Cipher
from adapter.store.pseudonyms import StudentKeySecret
from adapter.store.rotation import _raw

from .factories import T0, accept, report
from .test_bijlagen import LATER, attach

REDEN = "MRK-reden-Ochtendmist"
XML = b"<env><reden>MRK-envelope-Kraanvogel</reden></env>"
PDF = b"%PDF-1.7\n% MRK-bijlage-Roerdomp\n%%EOF\n"
MARKERS = ("MRK-reden", "MRK-envelope", "MRK-bijlage")


# A signed envelope's size (8 KB): compressed before it is sealed.
BIG_XML = XML[:-6] + b"<ds:Signature>" + b"<ds:Reference>AbCdEf==</ds:Reference>" * 220 + b"</env>"


def fill(store: Store, source_id: str = "r1", xml: bytes = XML) -> int:
    accept(store, f"m-{source_id}", report(source_id, vermoedelijke_reden=REDEN))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.record_exchange(ExchangeRecord(
        operation="aanleverenVerzuimmelding", document_id=claim.document_id,
        message_id=f"urn:uuid:{source_id}", request_xml=xml, response_xml=xml, http_status=200,
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
        # a binary value may have been compressed before it was sealed
        forms = (PREFIX, COMPRESSED_BYTES.decode()) if isinstance(value, bytes) else (PREFIX,)
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        assert isinstance(text, str) and text.startswith(forms), text[:40]
        assert not any(marker in text for marker in MARKERS)


def assert_reads(store: Store, report_id: int, xml: bytes = XML) -> None:
    content = store.report_content(report_id)
    assert content is not None and content["payload"]["vermoedelijke_reden"] == REDEN
    [exchange] = store.exchanges_for(report_id)
    assert (exchange.request_xml, exchange.response_xml) == (xml, xml)
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


@pytest.mark.parametrize("xml", [XML, BIG_XML], ids=["small", "compressed"])
def test_rotation_keeps_every_row_readable_after_the_old_key_is_dropped(
        store_url: str, reopen: Any, xml: bytes) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    first = reopen(old)
    report_id = fill(first, xml=xml)
    first.close()
    both = reopen(new, old)              # the new key placed first: new rows use it
    fill(both, "r2")
    assert both.rotate_key(batch=2) > 0
    assert both.rotate_key(batch=2) == 0       # done: nothing left on the old key
    both.close()
    only_new = reopen(new)
    assert_reads(only_new, report_id, xml)
    assert_sealed(only_new)
    assert envelope_forms(only_new) == ({COMPRESSED_BYTES} if xml is BIG_XML else {PREFIX_BYTES})


def stored_envelopes(store: Store) -> list[bytes]:
    """Every stored envelope, undecrypted: each exchange's request, then its answer."""
    with store.database.engine.connect() as conn:
        rows = conn.execute(sa.select(_raw(t.exchanges.c.request_xml),
                                      _raw(t.exchanges.c.response_xml))
                            .order_by(t.exchanges.c.id)).all()
    return [bytes(value) for row in rows for value in row]


def envelope_forms(store: Store) -> set[bytes]:
    """The prefixes of the first report's stored envelopes."""
    return {value[:len(COMPRESSED_BYTES)] for value in stored_envelopes(store)[:2]}


def test_large_envelopes_are_compressed_before_they_are_sealed(store: Store) -> None:
    report_id = fill(store, xml=BIG_XML)
    assert_reads(store, report_id, BIG_XML)
    # A large attachment that does not compress (a PDF's streams are compressed already).
    noise = PDF + os.urandom(4 * COMPRESS_FROM)
    assert attach(store, "b-noise", "r1", content=noise, name="ruis.pdf") == "stored"
    # Six at once: PostgreSQL takes them by COPY (adapter.store.bulk), through the same
    # column types.
    store.record_exchanges([ExchangeRecord(
        operation="opvragenGewijzigdeVerzuimmeldingen", document_id=None,
        message_id=f"urn:uuid:poll-{n}", request_xml=BIG_XML, response_xml=BIG_XML,
        http_status=200, outcome="ok", started_at=T0, duration_ms=5) for n in range(6)])
    stored = stored_envelopes(store)
    with store.database.engine.connect() as conn:
        contents = {bytes(v) for v in conn.execute(sa.select(_raw(t.bijlagen.c.content)))
                    .scalars()}
        read = conn.execute(sa.select(t.exchanges.c.request_xml, t.exchanges.c.response_xml)
                            ).all()
    assert len(stored) == 2 * 7 and set(read) == {(BIG_XML, BIG_XML)}
    for value in stored:
        assert value.startswith(COMPRESSED_BYTES) and len(value) < len(BIG_XML) // 3
    assert {c[:len(PREFIX_BYTES)] for c in contents} == {PREFIX_BYTES}   # left as it was
    assert_sealed(store)                 # no marker in any stored value
    with store.database.engine.connect() as conn:
        assert noise in set(conn.execute(sa.select(t.bijlagen.c.content)).scalars())


def test_compression_is_kept_only_where_it_pays() -> None:
    cipher = Cipher([Fernet.generate_key()])
    text, noise = b"<a>reden</a>" * 200, os.urandom(3 * COMPRESS_FROM)
    cases = [(text[:COMPRESS_FROM - 1], PREFIX_BYTES),    # small: not worth a try
             (text[:COMPRESS_FROM], COMPRESSED_BYTES), (noise, PREFIX_BYTES), (b"", PREFIX_BYTES)]
    for clear, form in cases:
        sealed = cipher.seal_bytes(clear)
        assert sealed.startswith(form) and cipher.open_bytes(sealed) == clear


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)   # SQLite has no such step
def test_postgresql_does_not_try_to_compress_sealed_columns(store: Store) -> None:
    with store.database.engine.connect() as conn:
        storage = dict(conn.execute(sa.text(
            "SELECT attrelid::regclass::text || '.' || attname, attstorage FROM pg_attribute "
            "WHERE (attrelid = 'exchanges'::regclass AND attname IN ('request_xml', 'response_xml'))"
            " OR (attrelid = 'bijlagen'::regclass AND attname = 'content')")).all())
    assert storage == {"exchanges.request_xml": "e", "exchanges.response_xml": "e",
                       "bijlagen.content": "e"}


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
