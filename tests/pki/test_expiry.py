"""ExpiryMonitor: thresholds, once per UTC day per certificate, expired as an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapter.pki.certs import load_pem_chain
from adapter.pki.expiry import ExpiryMonitor, ExpiryState
from adapter.pki.identity import load_identity
from adapter.pki.testpki import issue_leaf

from .conftest import OIN


#: Fixed validity, ending at noon UTC: the checks pass ``now`` explicitly, so nothing
#: here depends on the day or the hour the suite runs (an end at the run's wall-clock
#: time made "one hour later, the same day" cross midnight after 23:00 UTC).
NOT_BEFORE = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NOT_AFTER = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def certs(pki: Path):  # type: ignore[no-untyped-def]
    a, _ = issue_leaf(pki, "exp-a", oin=OIN, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    b, _ = issue_leaf(pki, "exp-b", oin=OIN, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    return load_pem_chain(a)[0], load_pem_chain(b)[0]


@pytest.fixture(scope="module")
def late_cert(pki: Path):  # type: ignore[no-untyped-def]
    """A certificate that ends at 23:30 UTC, like one issued at that hour of a run."""
    path, _ = issue_leaf(pki, "exp-late", oin=OIN, not_before=NOT_BEFORE,
                         not_after=datetime(2027, 3, 1, 23, 30, tzinfo=UTC))
    return load_pem_chain(path)[0]


def _events(logs: list[dict]) -> list[tuple[str, int | None]]:  # type: ignore[type-arg]
    return [(e["event"], e.get("threshold")) for e in logs
            if e["event"].startswith("certificate_")]


def test_thresholds_and_once_a_day(certs) -> None:  # type: ignore[no-untyped-def]
    cert, _ = certs
    end = cert.not_valid_after_utc
    monitor = ExpiryMonitor((7, 60, 14, 30))      # order does not matter
    with capture_logs() as logs:
        assert monitor.check(cert, now=end - timedelta(days=61)) == \
            ExpiryState(days_left=61, expired=False, not_yet_valid=False)
        assert _events(logs) == []
        monitor.check(cert, now=end - timedelta(days=60))
        monitor.check(cert, now=end - timedelta(days=60) + timedelta(hours=1))  # same day
        assert _events(logs) == [("certificate_expiry_warning", 60)]
        warning = logs[-1]
        assert warning["log_level"] == "warning" and warning["days_left"] == 60
        assert warning["not_after"] == end.isoformat()
        monitor.check(cert, now=end - timedelta(days=45))          # next day, still ≤ 60
        monitor.check(cert, now=end - timedelta(days=20))
        monitor.check(cert, now=end - timedelta(days=14))
        monitor.check(cert, now=end - timedelta(days=3))
        assert _events(logs)[1:] == [("certificate_expiry_warning", 60),
                                     ("certificate_expiry_warning", 30),
                                     ("certificate_expiry_warning", 14),
                                     ("certificate_expiry_warning", 7)]


def test_an_end_late_in_the_day_warns_again_after_midnight(late_cert) -> None:  # type: ignore[no-untyped-def]
    """The old failure, made deterministic: ``end − 60 days + 1 hour`` is the next UTC day
    for a certificate ending at 23:30, so the warning is due again (once a day), while
    a check 20 minutes later on the same day stays quiet."""
    first = late_cert.not_valid_after_utc - timedelta(days=60)
    assert first.hour == 23 and first.minute == 30
    monitor = ExpiryMonitor()
    with capture_logs() as logs:
        monitor.check(late_cert, now=first)
        monitor.check(late_cert, now=first + timedelta(minutes=20))     # 23:50, same day
        monitor.check(late_cert, now=first + timedelta(hours=1))        # 00:30, next day
    assert _events(logs) == [("certificate_expiry_warning", 60)] * 2
    assert [e["days_left"] for e in logs] == [60, 59]


def test_utc_calendar_day_boundary(certs) -> None:  # type: ignore[no-untyped-def]
    cert, _ = certs
    monitor = ExpiryMonitor()
    day = (cert.not_valid_after_utc - timedelta(days=10)).date()
    late = datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)
    with capture_logs() as logs:
        monitor.check(cert, now=late)
        monitor.check(cert, now=late + timedelta(minutes=1))    # 00:00 UTC the next day
        monitor.check(cert, now=late + timedelta(minutes=30))
    assert len(_events(logs)) == 2


def test_per_certificate_and_identity(certs, pki: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = certs
    monitor = ExpiryMonitor()
    now = a.not_valid_after_utc - timedelta(days=5)
    identity = load_identity(pki / "exp-a.pem", pki / "exp-a-key.pem", None)
    with capture_logs() as logs:
        monitor.check(a, now=now)
        monitor.check(identity, now=now)           # the same certificate: no second warning
        monitor.check(b, now=now)
    assert [e["subject"].split(",")[1] for e in logs] == ["CN=exp-a.test", "CN=exp-b.test"]


def test_expired_is_an_error_once_a_day(certs) -> None:  # type: ignore[no-untyped-def]
    cert, _ = certs
    end = cert.not_valid_after_utc
    monitor = ExpiryMonitor()
    with capture_logs() as logs:
        state = monitor.check(cert, now=end + timedelta(hours=1))
        monitor.check(cert, now=end + timedelta(hours=2))
        monitor.check(cert, now=end + timedelta(days=1, hours=1))
    assert state.expired and not state.not_yet_valid and state.days_left == -1
    assert _events(logs) == [("certificate_expired", None)] * 2
    assert all(e["log_level"] == "error" for e in logs)


def test_not_yet_valid_state(certs) -> None:  # type: ignore[no-untyped-def]
    cert, _ = certs
    state = ExpiryMonitor().check(cert, now=cert.not_valid_before_utc - timedelta(seconds=1))
    assert state.not_yet_valid and not state.expired and state.days_left > 60


def test_bad_thresholds() -> None:
    with pytest.raises(ValueError):
        ExpiryMonitor((30, -1))
