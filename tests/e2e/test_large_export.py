"""A large export through the daemon process: SIGTERM in the middle, then a restart."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.config import Settings
from adapter.pipeline.intake import CHUNK
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from bulk_exports import eduarte_export

from .conftest import dead_letters, wait_for
from .test_process import start_daemon, write_config

ROWS = 50_000
BIG_BODIES = {"VERZUIM_AMQP__MAX_BODY_BYTES": str(64 * 1024 * 1024)}


def log_events(log: Path, name: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [e for e in events if e["event"] == name]


@pytest.mark.timeout(300)
def test_sigterm_mid_export_stops_within_5_s_and_the_restart_stores_each_row_once(
        settings: Settings, simulator: SimulatorServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", settings)
    log = tmp_path / "daemon.log"
    engine = sa.create_engine(settings.store.url)

    def scalar(sql: str, **params: Any) -> Any:
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql), params).scalar()
        except sa.exc.OperationalError:   # before the daemon created the schema
            return None

    message_id = str(uuid.uuid4())
    proc = start_daemon(config, log, **BIG_BODIES)
    try:
        wait_for(lambda: scalar("SELECT count(*) FROM inbox_messages") is not None,
                 what="the daemon's store")
        publish_export(settings.amqp, body=eduarte_export(ROWS, 1000), vendor="eduarte",
                       content_type="text/csv", message_id=message_id)
        wait_for(lambda: (scalar("SELECT count(*) FROM registraties") or 0) >= 8_000,
                 timeout=120, what="the export half-way in the store", interval=0.05)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert proc.wait(timeout=30) == 0
        stopped_after = time.monotonic() - signalled
        before_restart = scalar("SELECT count(*) FROM registraties")
        [interrupted] = log_events(log, "intake_interrupted")
        assert stopped_after < 5.0, f"the daemon took {stopped_after:.1f} s to stop"
        assert 8_000 <= before_restart < ROWS, "SIGTERM did not land in the middle"
        # Whole chunks only: what is stored is what the committed parts held.
        committed = interrupted["parts_committed"]
        assert before_restart == CHUNK * committed
        assert scalar("SELECT sum(items) FROM inbox_messages") == before_restart

        proc = start_daemon(config, log, **BIG_BODIES)
        wait_for(lambda: scalar("SELECT count(*) FROM registraties") == ROWS, timeout=120,
                 what="every row stored after the restart")
        wait_for(lambda: log_events(log, "message_accepted"), what="the message acked")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    [accepted] = log_events(log, "message_accepted")
    # The redelivery skipped the committed chunks and stored only the rest: no chunk
    # twice, each row once.
    assert accepted["parts"] == ROWS // CHUNK
    assert accepted["parts_already_stored"] == committed
    assert accepted["registraties"] == ROWS - before_restart
    assert scalar("SELECT count(DISTINCT source_id) FROM registraties") == ROWS
    assert scalar("SELECT count(*) FROM inbox_messages") == ROWS // CHUNK
    assert scalar("SELECT sum(items) FROM inbox_messages") == ROWS
    # Nothing stored before the stop was written again.
    assert scalar("SELECT count(*) FROM registraties WHERE updated_at <> received_at") == 0
    assert dead_letters(settings) == []
    engine.dispose()
