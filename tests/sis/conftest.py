"""Broker fixtures for the RabbitMQ tests: one fresh vhost per test.

``amqp_settings`` yields default :class:`AmqpSettings` pointing at a new vhost
(``rabbitmqctl add_vhost`` + ``set_permissions``); the vhost is deleted after
the test. Each ``rabbitmqctl`` call starts an Erlang VM (~1 s), so the next
vhost is prepared in the background while a test runs and deletions run in
the background too (reaped at session end).
``broker`` adds helpers to inspect and disturb that vhost.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pika
import pytest

from adapter.config import AmqpSettings

import support

_deletions: list[subprocess.Popen[bytes]] = []


def rabbitmqctl(*args: str) -> str:
    """Run ``rabbitmqctl -q ARGS`` (real clock, retried); return stdout; raise on failure."""
    return support.rabbitmqctl(*args)


class Broker:
    """The test's vhost, with a few inspection helpers."""

    def __init__(self, vhost: str, settings: AmqpSettings) -> None:
        self.vhost = vhost
        self.settings = settings
        self._connections: list[pika.BlockingConnection] = []

    def channel(self) -> Any:
        """A fresh BlockingChannel on the test vhost (closed at teardown)."""
        conn = pika.BlockingConnection(pika.URLParameters(self.settings.url))
        self._connections.append(conn)
        return conn.channel()

    def counts(self, queue: str) -> tuple[int, int]:
        """``(messages ready, consumers)`` of ``queue`` as the broker answers a passive declare.

        One read is a snapshot: messages a closed consumer returns are counted only once
        the broker has processed the close, so tests wait for a count (:meth:`settled`).
        """
        method = self.channel().queue_declare(queue, passive=True).method
        return method.message_count, method.consumer_count

    def settled(self, queue: str, timeout: float = 15.0) -> int:
        """Messages ready in ``queue`` once no consumer is attached any more.

        The broker returns a closed consumer's unacknowledged deliveries in the same
        step that removes the consumer, so after ``consumers == 0`` the ready count
        is final: a ``0`` then means acknowledged, not "not returned yet".
        """
        ready, _ = wait_for(lambda: (lambda c: c if c[1] == 0 else None)(self.counts(queue)),
                            timeout=timeout)
        return int(ready)

    def ready(self, queue: str, expected: int, timeout: float = 15.0) -> int:
        """Wait (bounded) until ``queue`` holds ``expected`` ready messages; return the count.

        On timeout the assertion names the last count seen.
        """
        seen: list[int] = []

        def reached() -> bool:
            seen.append(self.counts(queue)[0])
            return seen[-1] == expected
        try:
            wait_for(reached, timeout=timeout, interval=0.1)
        except AssertionError:
            raise AssertionError(f"{queue}: {seen[-1]} ready, expected {expected} "
                                 f"within {timeout} s") from None
        return seen[-1]

    def queues(self) -> dict[str, tuple[int, int]]:
        """``{queue name: (messages ready, messages unacknowledged)}`` from rabbitmqctl."""
        out = rabbitmqctl("list_queues", "-p", self.vhost, "--no-table-headers",
                          "name", "messages_ready", "messages_unacknowledged")
        result: dict[str, tuple[int, int]] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                result[parts[0]] = (int(parts[1]), int(parts[2]))
        return result

    def close_connections(self) -> None:
        rabbitmqctl("close_all_connections", "-p", self.vhost, "test")

    def close(self) -> None:
        for conn in self._connections:
            if conn.is_open:
                try:
                    conn.close()
                except pika.exceptions.AMQPError:
                    pass


def wait_for(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until truthy; return its value or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


class Runner:
    """Runs a blocking ``run(stop)`` in a thread; ``stop()`` returns how long it took."""

    def __init__(self, target: Callable[[threading.Event], None]) -> None:
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, args=(target,), daemon=True)
        self.thread.start()

    def _main(self, target: Callable[[threading.Event], None]) -> None:
        try:
            target(self.stop_event)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def stop(self, timeout: float = 10.0) -> float:
        started = time.monotonic()
        self.stop_event.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run() did not return after stop"
        if self.error is not None:
            raise self.error
        return time.monotonic() - started


@pytest.fixture(scope="session")
def _vhost_factory() -> Iterator[Callable[[], str]]:
    """Hands out fresh vhosts, preparing the next one while the current test runs."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhost")
    ahead: list[Future[str]] = []

    def take() -> str:
        future = ahead.pop() if ahead else pool.submit(_create_vhost)
        vhost = future.result()
        ahead.append(pool.submit(_create_vhost))
        return vhost

    yield take
    for future in ahead:
        try:
            _delete_vhost_later(future.result())
        except Exception:
            pass
    pool.shutdown()
    for proc in _deletions:
        proc.wait(timeout=60)


def _create_vhost() -> str:
    """``add_vhost`` + ``set_permissions -p <vhost> guest ".*" ".*" ".*"``.

    Both in one ``rabbitmqctl eval`` when the broker's internal API allows it
    (one Erlang VM start instead of two, ~1 s saved per test); otherwise the
    two documented commands on a fresh name.
    """
    vhost = f"test-sis-{uuid.uuid4().hex[:10]}"
    script = (f'ok = rabbit_vhost:add(<<"{vhost}">>, <<"tests">>), '
              f'rabbit_auth_backend_internal:set_permissions(<<"guest">>, <<"{vhost}">>, '
              f'<<".*">>, <<".*">>, <<".*">>, <<"tests">>).')
    try:
        if rabbitmqctl("eval", script).strip() == "ok":
            return vhost
    except RuntimeError:
        pass
    _delete_vhost_later(vhost)      # in case the eval got half-way
    vhost = f"test-sis-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return vhost


@pytest.fixture
def amqp_vhost(_vhost_factory: Callable[[], str]) -> Iterator[str]:
    vhost = _vhost_factory()
    try:
        yield vhost
    finally:
        _delete_vhost_later(vhost)


def _delete_vhost_later(vhost: str) -> None:
    _deletions.append(subprocess.Popen(["rabbitmqctl", "-q", "delete_vhost", vhost],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env=support.broker_env()))


@pytest.fixture
def amqp_settings(amqp_vhost: str) -> AmqpSettings:
    """Default settings (default names) on the test's own vhost."""
    return AmqpSettings(url=f"amqp://guest:guest@127.0.0.1:5672/{quote(amqp_vhost, safe='')}")


@pytest.fixture
def broker(amqp_vhost: str, amqp_settings: AmqpSettings) -> Iterator[Broker]:
    helper = Broker(amqp_vhost, amqp_settings)
    try:
        yield helper
    finally:
        helper.close()


@pytest.fixture
def start() -> Iterator[Callable[[Callable[[threading.Event], None]], Runner]]:
    """``start(obj.run)`` runs it in a thread; every runner is stopped at teardown."""
    started: list[Runner] = []

    def _start(target: Callable[[threading.Event], None]) -> Runner:
        runner = Runner(target)
        started.append(runner)
        return runner

    yield _start
    for runner in started:
        runner.stop_event.set()
        runner.thread.join(10)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for
