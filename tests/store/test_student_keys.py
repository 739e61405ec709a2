"""Student keys are HMACs with the store's secret (``adapter.store.pseudonyms``);
migration 0009 re-keys the unkeyed SHA-256 keys of older stores."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext

from adapter.domain.model import Registratie, Status, Student, Terugmelding
from adapter.errors import ConfigError
from adapter.store import IncomingRegistratie, Store
from adapter.store import schema as t
from adapter.store.common import record_key, student_key_of
from adapter.store.crypto import Cipher
from adapter.store.engine import MIGRATIONS, Database
from adapter.store.pseudonyms import CHECK_NAME, StudentKeySecret
from adapter.store.students import leerling_key

from .factories import T0, accept, report

BSN, ONR, LLN = "123456782", "100000004", "403117"
OTHER = StudentKeySecret("another-secret-of-enough-length-" + "o" * 8)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def reg(source: str, day: int, student: Student) -> IncomingRegistratie:
    return IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=source, brin="00AA", student=student, datum=date(2025, 2, day),
        lesuren=(1, 2)))


def column(store: Store, table: sa.Table, name: str = "student_key") -> set[str]:
    with store.database.engine.connect() as conn:
        return set(conn.execute(sa.select(table.c[name])).scalars())


# ---- the function -------------------------------------------------------------------------

def test_one_student_one_key_and_another_secret_another_key(
        student_secret: StudentKeySecret) -> None:
    student = Student(bsn=BSN)
    key = student_key_of(student_secret, "00AA", student, fallback="r1")
    assert key == student_key_of(student_secret, "00AA", Student(bsn=BSN), fallback="r2")
    assert len(key) == 64 and key != sha(f"00AA\x1fbsn:{BSN}")        # not the bare hash
    assert key == student_secret.rekey(sha(f"00AA\x1fbsn:{BSN}"))       # HMAC of 0008's key
    assert key != student_key_of(OTHER, "00AA", student, fallback="r1")
    assert key != student_key_of(student_secret, "00BB", student, fallback="r1")
    assert (leerling_key(student_secret, "acme", "00AA", LLN)
            != leerling_key(OTHER, "acme", "00AA", LLN))
    assert student_secret.fingerprint() != OTHER.fingerprint()


def test_the_secret_is_never_shown(student_secret: StudentKeySecret) -> None:
    text = "a-secret-nobody-may-see-in-a-log-" + "x" * 8
    secret = StudentKeySecret(text)
    assert text not in repr(secret) and text not in str(secret) and text not in f"{secret!r}"
    with pytest.raises(AttributeError):
        secret._secret = b"other"   # type: ignore[misc]
    with pytest.raises(ValueError, match="at least 32"):
        StudentKeySecret("short")


def test_the_store_keys_reports_and_aliases_with_its_secret(
        store: Store, student_secret: StudentKeySecret) -> None:
    accept(store, "m-1", report("r1", student=Student(bsn=BSN, leerlingnummer=LLN)))
    assert column(store, t.reports) == {
        student_key_of(student_secret, "00AA", Student(bsn=BSN), fallback="r1")}
    assert column(store, t.student_aliases, "leerling_key") == {
        leerling_key(student_secret, "acme", "00AA", LLN)}
    with store.database.engine.connect() as conn:
        assert conn.execute(sa.select(t.store_checks.c.value).where(
            t.store_checks.c.name == CHECK_NAME)).scalar_one() == student_secret.fingerprint()


# ---- start-up -----------------------------------------------------------------------------

def test_another_secret_is_refused_at_start(store_url: str, store_cipher: Cipher,
                                             student_secret: StudentKeySecret,
                                             caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    first = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    accept(first, "m-1", report("r1"))
    first.close()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        Store.open(store_url, cipher=store_cipher, student_secret=OTHER)
    message = str(info.value)
    assert "\n" not in message and "store.student_key_secret" in message
    assert "not the secret" in message
    out = capsys.readouterr()
    shown = message + caplog.text + out.out + out.err
    assert "o" * 8 not in shown and "s" * 16 not in shown             # neither secret
    again = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    assert len(again.list_reports()) == 1                             # the right one still opens
    again.close()


# ---- migration 0009 -----------------------------------------------------------------------

class Unkeyed(StudentKeySecret):
    """The student keys up to 0008: a bare SHA-256 (the secret is ignored)."""

    __slots__ = ()

    def key(self, text: str) -> str:
        return sha(text)


@pytest.fixture
def store_at_0008(store_url: str, store_cipher: Cipher) -> Iterator[Store]:
    """A store migrated to 0008 whose rows carry 0008's unkeyed keys."""
    db = Database.open(store_url, cipher=store_cipher, student_secret=Unkeyed("u" * 32))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.write("t") as conn:   # a fresh store, or this module's PostgreSQL one (emptied)
        config.attributes["connection"] = conn
        if MigrationContext.configure(conn).get_current_revision() in (None, "0008"):
            command.upgrade(config, "0008")
        else:
            command.downgrade(config, "0008")
            conn.execute(t.store_checks.delete())    # kept by 0009's downgrade
    store = Store(db)
    try:
        yield store
    finally:
        store.close()


def test_migration_0009_rekeys_every_stored_key(
        store_at_0008: Store, store_url: str, store_cipher: Cipher,
        student_secret: StudentKeySecret) -> None:
    old = store_at_0008
    with_lln = Student(bsn=BSN, leerlingnummer=LLN)
    accept(old, "m-1", report("r1", student=with_lln), reg("w1", 3, with_lln),
           report("r2", bsn="111222333"), reg("w2", 4, Student(onderwijsnummer=ONR)))
    old.apply_feedback([Terugmelding("WEB-1", Status.R, T0, brin="00AA", verzuimsoort="L")],
                       watermark=T0, name="fb")
    with old.database.write("t") as conn:
        conn.execute(t.signals.insert().values(
            vendor="acme", brin="00AA", student_key=sha(f"00AA\x1fbsn:{BSN}"),
            signaal="missing_einddatum", situation="r1", state="open", data={},
            raised_at=T0, closed_at=None))
    old_keys = {sha(f"00AA\x1fbsn:{BSN}"), sha("00AA\x1fbsn:111222333"),
                sha("00AA\x1fduo:WEB-1")}
    assert column(old, t.reports) == old_keys                       # what 0008 stored
    assert column(old, t.registraties) == {sha(f"00AA\x1fbsn:{BSN}"),
                                            sha(f"00AA\x1fonr:{ONR}")}
    assert column(old, t.student_aliases, "leerling_key") == {sha(f"acme\x1f00AA\x1flln:{LLN}")}
    old.close()

    store = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    try:
        def key(student: Student) -> str:
            return student_key_of(student_secret, "00AA", student, fallback="-")
        assert column(store, t.reports) == {key(Student(bsn=BSN)), key(Student(bsn="111222333")),
                                            record_key(student_secret, "00AA", "duo:WEB-1")}
        assert column(store, t.registraties) == {key(Student(bsn=BSN)),
                                                 key(Student(onderwijsnummer=ONR))}
        assert column(store, t.submissions) <= column(store, t.reports)
        assert column(store, t.submissions) >= {key(Student(bsn=BSN))}
        assert column(store, t.signals) == {key(Student(bsn=BSN))}
        assert column(store, t.student_aliases) == {key(Student(bsn=BSN))}
        assert column(store, t.student_aliases, "leerling_key") == {
            leerling_key(student_secret, "acme", "00AA", LLN)}
        assert not column(store, t.reports) & old_keys

        # Records of the same students accepted now land on the same keys.
        before = column(store, t.reports) | column(store, t.registraties)
        accept(store, "m-2", report("r3", student=Student(bsn=BSN)), reg("w3", 5, with_lln),
               reg("w4", 6, Student(onderwijsnummer=ONR)),
               report("r4", student=Student(onderwijsnummer=ONR, leerlingnummer=LLN)))
        assert column(store, t.reports) | column(store, t.registraties) == before
        with store.database.engine.connect() as conn:
            rows = conn.execute(sa.select(t.reports.c.source_id, t.reports.c.student_key)).all()
        by_source = dict(rows)
        assert by_source["r1"] == by_source["r3"] == by_source["r4"] == key(Student(bsn=BSN))
    finally:
        store.close()

    again = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    try:      # no second re-keying
        assert key(Student(bsn=BSN)) in column(again, t.reports)
    finally:
        again.close()


def test_migration_0009_needs_the_secret_when_rows_hold_keys(
        store_at_0008: Store, store_cipher: Cipher) -> None:
    accept(store_at_0008, "m-1", report("r1"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with (pytest.raises(RuntimeError, match="needs the student key secret"),
          store_at_0008.database.write("t") as conn):
        config.attributes["connection"] = conn   # no "student_secret": ad-hoc alembic
        command.upgrade(config, "head")
    assert column(store_at_0008, t.reports) == {sha(f"00AA\x1fbsn:{BSN}")}
