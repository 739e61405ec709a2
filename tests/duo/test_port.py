"""The port to DUO: DuoClient and the kit's FakeDuo implement the same thing."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest

from adapter.domain.model import Status
from adapter.duo.client import DuoClient
from adapter.duo.port import DuoPort
from adapter.errors import DuoRejected, DuplicateDocument, OutcomeUnknown, TransientError
from adapter.testing import FakeDuo, make_melding


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")}


def test_fake_duo_implements_every_public_method_of_the_client() -> None:
    client, fake = public_methods(DuoClient), public_methods(FakeDuo)
    missing = sorted(set(client) - set(fake))
    assert not missing, f"FakeDuo lacks {missing}"
    for name, signature in client.items():
        assert list(fake[name].parameters) == list(signature.parameters), name
        for param, spec in signature.parameters.items():
            assert fake[name].parameters[param].kind == spec.kind, (name, param)
            assert fake[name].parameters[param].default == spec.default, (name, param)


def test_the_port_names_every_operation_the_client_offers() -> None:
    port = public_methods(DuoPort)  # type: ignore[type-abstract]
    assert set(port) == set(public_methods(DuoClient))
    assert isinstance(FakeDuo(), DuoPort)


def test_one_effect_per_document_and_reports_by_brin() -> None:
    duo = FakeDuo()
    first = duo.aanleveren(make_melding(), document_id="d1")
    assert first.status is Status.R
    with pytest.raises(DuplicateDocument):
        duo.aanleveren(make_melding(), document_id="d1")
    assert duo.ledger == {"d1": 1} and len(duo.reports) == 1
    assert duo.opvragen(brin="00AA", document_id="d1") == duo.opvragen(
        brin="00AA", meldingsnummer=first.meldingsnummer)
    assert duo.opvragen(brin="99ZZ", meldingsnummer=first.meldingsnummer) is None
    with pytest.raises(DuoRejected, match="VZ901"):
        duo.wijzigen(make_melding(brin="99ZZ"), meldingsnummer=first.meldingsnummer,
                     document_id="d2")


def test_wijzigen_is_guarded_by_the_mutation_stamp_and_closed_reports_stay_closed() -> None:
    duo = FakeDuo()
    first = duo.aanleveren(make_melding(), document_id="d1")
    changed = duo.wijzigen(make_melding(), meldingsnummer=first.meldingsnummer,
                           document_id="d2", laatste_mutatie=first.laatste_mutatie)
    assert changed.laatste_mutatie > first.laatste_mutatie
    with pytest.raises(DuoRejected, match="VZ903"):
        duo.wijzigen(make_melding(), meldingsnummer=first.meldingsnummer, document_id="d3",
                     laatste_mutatie=first.laatste_mutatie)
    assert duo.intrekken(make_melding(), meldingsnummer=first.meldingsnummer,
                         document_id="d4").status is Status.I
    with pytest.raises(DuoRejected, match="VZ902"):
        duo.wijzigen(make_melding(), meldingsnummer=first.meldingsnummer, document_id="d5")


def test_scripted_outcomes_in_order_then_ok() -> None:
    duo = FakeDuo()
    duo.script("aanleveren", TransientError("503"), "lost")
    with pytest.raises(TransientError):
        duo.aanleveren(make_melding(), document_id="d1")
    assert duo.ledger == {}
    with pytest.raises(OutcomeUnknown):
        duo.aanleveren(make_melding(), document_id="d1")
    assert duo.ledger == {"d1": 1}                     # DUO did it; the answer was lost
    assert duo.opvragen(brin="00AA", document_id="d1") is not None
    assert duo.aanleveren(make_melding(source_id="b"), document_id="d2").meldingsnummer
    assert duo.documents == ["d1", "d1", "d2"]


def test_changes_are_paged_and_follow_the_municipality() -> None:
    duo = FakeDuo(page_size=2)
    numbers = [duo.aanleveren(make_melding(source_id=f"s{n}"), document_id=f"d{n}")
               .meldingsnummer for n in range(3)]
    first = duo.opvragen_gewijzigd(brin="00AA", since=None)
    assert len(first.items) == 2 and first.more
    rest = duo.opvragen_gewijzigd(brin="00AA", since=first.next_since)
    assert [t.meldingsnummer for t in first.items + rest.items] == numbers and not rest.more
    handled = duo.set_status(numbers[0], Status.B, toelichting="Gesprek gepland")
    again = duo.opvragen_gewijzigd(brin="00AA", since=rest.next_since)
    assert again.items == [handled] and handled.status is Status.B
    assert handled.laatste_mutatie - rest.next_since >= timedelta(seconds=1)
