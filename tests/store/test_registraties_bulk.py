"""Set-based registration intake: the same outcome as the one-by-one rules (both databases)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext

from adapter.domain.codec import registratie_to_dict
from adapter.domain.model import Registratie, Student, Verzuimdag
from adapter.store import IncomingRegistratie, IncomingReport, Store
from adapter.store import schema as t
from adapter.store.common import as_utc, content_hash, student_key_of
from adapter.store.engine import MIGRATIONS, Database

from .conftest import TEST_STUDENT_SECRET
from .factories import T0, accept, melding

STUDENTS = (Student(bsn="123456782"), Student(bsn="111222333"))
STAMPS = (None, T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2))


def reg(source: str, day: int, *, student: int = 0, lesuren: tuple[int, ...] = (1,),
        **kw: Any) -> IncomingRegistratie:
    return IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=source, brin="00AA", student=STUDENTS[student], datum=date(2025, 2, day),
        lesuren=lesuren, **kw))


def random_item(rng: random.Random) -> IncomingRegistratie:
    day = rng.randint(3, 7)
    source = rng.choice([f"w{rng.randint(1, 4)}", f"AM-{rng.randint(1, 3)}@{day}",
                         f"AM-{rng.randint(1, 3)}@{day}"])
    return reg(source, day, student=rng.randint(0, 1),
               lesuren=tuple(sorted(rng.sample(range(1, 9), rng.randint(1, 3)))),
               modified_at=rng.choice(STAMPS), deleted=rng.random() < 0.15)


class OneByOne:
    """The rules as the store applied them row by row before intake was set-based."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def accept(self, items: list[IncomingRegistratie]) -> None:
        for item in items:
            r = item.registratie
            payload = registratie_to_dict(r)
            new = {"student_key": student_key_of(TEST_STUDENT_SECRET, r.brin, r.student,
                                                  fallback=r.source_id),
                   "payload": payload, "hash": content_hash(payload),
                   "modified_at": as_utc(r.modified_at) if r.modified_at else None}
            old = self.rows.get(r.source_id)
            if old is not None and (old["hash"] == new["hash"] or (
                    new["modified_at"] and old["modified_at"]
                    and new["modified_at"] < old["modified_at"])):
                continue
            self.rows[r.source_id] = new
        groups: dict[str, tuple[set[str], Any]] = {}
        for item in items:
            sid, stamp = item.registratie.source_id, item.registratie.modified_at
            if "@" not in sid:
                continue
            present, newest = groups.get(sid.rsplit("@", 1)[0], (set(), None))
            present.add(sid)
            if stamp is not None and (newest is None or as_utc(stamp) > newest):
                newest = as_utc(stamp)
            groups[sid.rsplit("@", 1)[0]] = (present, newest)
        for base, (present, newest) in groups.items():
            for sid, row in self.rows.items():
                if not sid.startswith(base + "@") or sid in present:
                    continue
                if row["payload"].get("deleted") or (
                        newest and row["modified_at"] and row["modified_at"] > newest):
                    continue
                row["payload"] = {**row["payload"], "deleted": True}
                row["hash"] = content_hash(row["payload"])


def stored(store: Store) -> dict[str, dict[str, Any]]:
    with store.database.read("t") as conn:
        rows = conn.execute(t.registraties.select()).all()
    return {row.source_id: {"student_key": row.student_key, "payload": dict(row.payload),
                            "hash": row.content_hash, "modified_at": row.modified_at,
                            "base_id": row.base_id} for row in rows}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunks_end_as_the_one_by_one_rules_do(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    model = OneByOne()
    for n in range(12):
        items = [random_item(rng) for _ in range(rng.randint(1, 10))]
        result = accept(store, f"m-{n}", *items)
        assert result.registraties == len(items)
        model.accept(items)
    actual = stored(store)
    for sid, row in actual.items():
        assert row.pop("base_id") == (sid.rsplit("@", 1)[0] if "@" in sid else None)
    assert actual == model.rows


def test_the_same_registration_twice_in_a_chunk_keeps_the_newest(store: Store) -> None:
    later = T0 + timedelta(hours=1)
    accept(store, "m-1", reg("w1", 3, lesuren=(1,), modified_at=later),
           reg("w1", 3, lesuren=(1, 2), modified_at=T0))
    accept(store, "m-2", reg("w2", 3, lesuren=(1, 2), modified_at=T0),
           reg("w2", 3, lesuren=(3,), modified_at=later))
    rows = stored(store)
    assert rows["w1"]["payload"]["lesuren"] == [1] and rows["w2"]["payload"]["lesuren"] == [3]


def test_a_correction_to_another_student_refreshes_both_reports(store: Store) -> None:
    def v3(source: str, student: int) -> IncomingReport:
        return IncomingReport(vendor="acme", melding=melding(
            source, bsn=STUDENTS[student].bsn, einddatum=date(2025, 2, 14), verzuimdagen=()))

    accept(store, "m-1", v3("r-a", 0), v3("r-b", 1), reg("w1", 4, student=0, modified_at=T0))
    result = accept(store, "m-2", reg("w1", 4, student=1, modified_at=T0 + timedelta(hours=1)))
    assert result.updated_reports == 2
    claims = {c.melding.source_id: c.melding.verzuimdagen
              for c in store.claim_due(limit=5, now=T0 + timedelta(days=30))}
    assert claims == {"r-a": (), "r-b": (Verzuimdag(date(2025, 2, 4), lesuren=(1,)),)}


def test_retiring_leaves_other_registrations_with_a_similar_id_alone(store: Store) -> None:
    accept(store, "m-1", reg("AM-1@3", 3, modified_at=T0), reg("AM-10@3", 3, modified_at=T0),
           reg("AM-1", 3, modified_at=T0))
    accept(store, "m-2", reg("AM-1@4", 4, modified_at=T0 + timedelta(hours=1)))
    deleted = {sid for sid, row in stored(store).items() if row["payload"].get("deleted")}
    assert deleted == {"AM-1@3"}


def test_committed_parts_are_found_by_their_inbox_keys(store: Store) -> None:
    for part in ("m-1", "m-1#1", "m-1#2", "m-10", "m-10#1"):
        accept(store, part)
    assert store.committed_parts("m-1") == {0, 1, 2}
    assert store.committed_parts("m-10") == {0, 1}
    assert store.committed_parts("m-2") == set()


def test_migration_0003_fills_the_base_id_of_stored_registrations(store_url: str) -> None:
    db = Database.open(store_url, student_secret=TEST_STUDENT_SECRET)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.write("t") as conn:   # a fresh store, or this module's PostgreSQL one
            config.attributes["connection"] = conn
            if MigrationContext.configure(conn).get_current_revision() in (None, "0001"):
                command.upgrade(config, "0002")
            else:
                command.downgrade(config, "0002")
        with db.write("t") as conn:
            for sid in ("AM-1@2025-02-03", "x@y@2025-02-04", "w1"):
                conn.execute(sa.text(
                    "INSERT INTO registraties (vendor, brin, source_id, student_key, datum, "
                    "payload, content_hash, received_at, updated_at) VALUES ('acme', '00AA', "
                    ":sid, 'k', :d, '{}', 'h', :now, :now)"),
                    {"sid": sid, "d": date(2025, 2, 3), "now": T0.replace(tzinfo=None)})
    finally:
        db.close()
    store = Store.open(store_url, student_secret=TEST_STUDENT_SECRET)
    try:
        assert {sid: row["base_id"] for sid, row in stored(store).items()} == {
            "AM-1@2025-02-03": "AM-1", "x@y@2025-02-04": "x@y", "w1": None}
    finally:
        store.close()

