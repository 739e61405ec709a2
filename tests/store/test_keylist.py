"""A list of keys as one parameter (adapter.store.keylist): the same rows as ``IN``, on
PostgreSQL one statement text whatever the list's length."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from adapter.store import Store
from adapter.store import schema as t
from adapter.store.keylist import in_list

from .factories import T0

_o = t.outbox.c
_BY_MESSAGE = sa.select(_o.id).where(in_list(_o.message_id, "keys")).order_by(_o.id)
_PUBLISH = t.outbox.update().where(in_list(_o.id, "ids")).values(published_at=T0)


def rows(count: int) -> list[dict[str, Any]]:
    return [dict(message_id=f"m-{n}", vendor="canonical", brin="00AA", event="registered",
                 source_id=f"s-{n}", data={"n": n}, created_at=T0, published_at=None)
            for n in range(count)]


@pytest.mark.parametrize("keys, expected", [
    ([], []), (["m-3"], [4]), (["m-7", "m-1", "nope", "m-1"], [2, 8]),
    ([f"m-{n}" for n in range(0, 300, 2)], list(range(1, 11, 2))),
])
def test_in_list_finds_the_rows_in_does(store: Store, keys: list[str],
                                        expected: list[int]) -> None:
    with store.database.write("test") as conn:
        conn.execute(t.outbox.insert(), rows(10))
        found = conn.execute(_BY_MESSAGE, {"keys": keys}).scalars().all()
        plain = conn.execute(sa.select(_o.id).where(_o.message_id.in_(keys))
                             .order_by(_o.id)).scalars().all()
    assert found == plain == expected


def test_in_list_in_an_update_and_with_integer_keys(store: Store) -> None:
    with store.database.write("test") as conn:
        conn.execute(t.outbox.insert(), rows(6))
        assert conn.execute(_PUBLISH, {"ids": [2, 5, 99]}).rowcount == 2
        assert conn.execute(_PUBLISH, {"ids": []}).rowcount == 0
        published = conn.execute(sa.select(_o.id).where(_o.published_at.is_not(None))
                                 .order_by(_o.id)).scalars().all()
    assert published == [2, 5]


def test_postgresql_sends_one_text_for_every_length(store: Store) -> None:
    # The point of the module: psycopg converts each new statement text anew, and an
    # expanding IN writes one text per length. SQLite keeps the IN list.
    texts: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "outbox.message_id" in statement:
            texts.append(statement)

    engine = store.database.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with store.database.read("test") as conn:
            for count in (1, 2, 5, 40):
                conn.execute(_BY_MESSAGE, {"keys": [f"m-{n}" for n in range(count)]}).all()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert len(texts) == 4
    if engine.dialect.name == "postgresql":
        assert len(set(texts)) == 1 and "= ANY (" in texts[0] and " IN (" not in texts[0]
    else:
        assert len(set(texts)) == 4 and all(" IN (" in text for text in texts)
