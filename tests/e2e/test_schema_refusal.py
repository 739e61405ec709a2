"""DUO's schema before send, through the broker and the simulator over TLS.

A report DUO's business rules let through but DUO's XSD refuses (a phone number
with letters, a 1,500-character toelichting_actie_gewenst) used to be sent and
came back from the simulator as DK0004. Now it is a ``rejected`` event with the
adapter's own codes and fields, nothing is queued for it and nothing reaches DUO.
"""

from __future__ import annotations

import json
import random

import pytest

from adapter.config import Settings
from adapter.domain.rules import ADAPTER_RULES
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import control, wait_for
from .records import encode, record

pytestmark = pytest.mark.timeout(90)
PHONE = "06-12ab5678"


def test_schema_violations_are_refused_before_send(daemon: Daemon, settings: Settings,
                                                   simulator: SimulatorServer, tap) -> None:
    rng = random.Random(20261205)
    bad = record(rng, source_id="schema-bad",
                 melder={"naam": "Mentor Kwikstaart", "emailadres": "mentor@school.test",
                         "telefoonnummer": PHONE},
                 actie_ondernomen=False, toelichting_actie_gewenst="Gesprek gewenst. " * 94)
    assert len(bad["toelichting_actie_gewenst"]) >= 1500
    good = record(rng, source_id="schema-good")
    publish_export(settings.amqp, body=encode(bad), vendor="canonical")
    publish_export(settings.amqp, body=encode(good), vendor="canonical")

    wait_for(lambda: daemon.store.counts()["submissions"].get("done") == 1,
             what="the valid report registered")
    rejected = wait_for(lambda: tap.of("rejected"), what="rejected event")
    [event] = rejected
    assert event["source_id"] == "schema-bad" and event["operation"] == "aanleveren"
    assert [(e["code"], e["field"], e["rule"]) for e in event["errors"]] == [
        ("AD002", "toelichting_actie_gewenst", ADAPTER_RULES["AD002"]),
        ("AD001", "melder.telefoonnummer", ADAPTER_RULES["AD001"])]
    assert all(e["text"] for e in event["errors"])
    text = json.dumps(event)
    assert PHONE not in text and "Gesprek" not in text and "DK0004" not in text

    # Nothing was queued for it, so nothing was sent: DUO knows only the valid one.
    assert daemon.store.counts()["submissions"] == {"done": 1}
    assert len(control(simulator, "meldingen")) == 1
    assert list(control(simulator, "ledger").values()) == [1]
