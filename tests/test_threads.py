"""adapter.logging: the daemon's threads carry their names to the system (Linux)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from adapter.logging import name_native, named

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="prctl(PR_SET_NAME) is Linux's")


def _comm_of(target_name: str, target: object) -> str:
    seen: list[str] = []

    def body() -> None:
        seen.append(Path(f"/proc/self/task/{threading.get_native_id()}/comm")
                    .read_text().strip())

    thread = threading.Thread(target=target(body) if target else body,  # type: ignore[operator]
                              name=target_name)
    thread.start()
    thread.join(5)
    return seen[0]


def test_a_named_thread_shows_its_name_to_the_system() -> None:
    assert _comm_of("submitter", named) == "submitter"


def test_a_long_name_is_cut_to_the_systems_fifteen_bytes() -> None:
    assert _comm_of("amqp-consumer-worker", named) == "amqp-consumer-w"


def test_without_it_the_system_sees_the_programs_name() -> None:
    assert _comm_of("submitter", None) != "submitter"


def test_a_pool_names_its_workers_with_the_initializer() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="duo", initializer=name_native) as pool:
        comm = pool.submit(lambda: Path(
            f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()).result()
    assert comm == "duo_0"
