"""Identifier checks, with property tests over generated valid and mutated numbers."""

from __future__ import annotations

import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapter.domain import (is_valid_brin, is_valid_bsn, is_valid_oin, is_valid_onderwijsnummer,
                            is_valid_postcode, is_valid_uuid)

WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
eight_digits = st.text(alphabet="0123456789", min_size=8, max_size=8)


def _sum(prefix: str) -> int:
    return sum(w * int(c) for w, c in zip(WEIGHTS, prefix))


@st.composite
def bsns(draw: st.DrawFn) -> str:
    prefix = draw(eight_digits)
    check = _sum(prefix) % 11
    assume(check != 10 and (prefix, check) != ("00000000", 0))
    return f"{prefix}{check}"


@st.composite
def onderwijsnummers(draw: st.DrawFn) -> str:
    prefix = draw(eight_digits)
    remainder = _sum(prefix) % 11
    assume(5 <= remainder <= 10)
    return f"{prefix}{remainder - 5}"


def test_known_values() -> None:
    assert is_valid_bsn("111222333") and is_valid_bsn("123456782")
    assert not is_valid_bsn("000000000")
    assert not is_valid_bsn("11122233") and not is_valid_bsn("1112223330")
    assert not is_valid_bsn("111222333\n") and not is_valid_bsn(111222333)
    assert not is_valid_bsn("١١١٢٢٢٣٣٣")  # Arabic-Indic digits are not digits here
    assert is_valid_onderwijsnummer("100000004")
    assert not is_valid_onderwijsnummer("100000005")
    assert not is_valid_onderwijsnummer(None)


@given(bsns())
def test_generated_bsns_pass(bsn: str) -> None:
    assert is_valid_bsn(bsn)


@given(bsns(), st.integers(0, 8), st.integers(1, 9))
def test_any_single_digit_change_of_a_bsn_fails(bsn: str, pos: int, delta: int) -> None:
    digit = (int(bsn[pos]) + delta) % 10
    changed = bsn[:pos] + str(digit) + bsn[pos + 1:]
    assert not is_valid_bsn(changed)


@given(onderwijsnummers())
def test_generated_onderwijsnummers_pass(onr: str) -> None:
    assert is_valid_onderwijsnummer(onr)
    assert int(onr[8]) <= 5


@given(eight_digits, st.sampled_from("6789"))
def test_onderwijsnummers_ending_6_to_9_fail(prefix: str, last: str) -> None:
    assert not is_valid_onderwijsnummer(prefix + last)


@settings(max_examples=200)
@given(st.text(alphabet=string.digits + string.ascii_uppercase, min_size=20, max_size=20))
def test_oin_pattern_accepts(oin: str) -> None:
    assert is_valid_oin(oin)


@given(st.text(min_size=0, max_size=25))
def test_oin_pattern_rejects_other_text(text: str) -> None:
    ok = len(text) == 20 and all(c in string.digits + string.ascii_uppercase for c in text)
    assert is_valid_oin(text) == ok


def test_oin_examples() -> None:
    assert is_valid_oin("00000001800866472000") and is_valid_oin("0000000700025BE00000")
    assert not is_valid_oin("0000000700025be00000") and not is_valid_oin("0" * 19)


@given(st.text(min_size=0, max_size=6))
def test_brin_pattern(text: str) -> None:
    ok = (len(text) == 4 and all(c in string.digits for c in text[:2])
          and all(c in string.digits + string.ascii_uppercase for c in text[2:]))
    assert is_valid_brin(text) == ok


def test_brin_examples() -> None:
    assert is_valid_brin("25PL") and is_valid_brin("00AA") and is_valid_brin("1234")
    assert not is_valid_brin("A5PL") and not is_valid_brin("25pl") and not is_valid_brin("25PLX")


def test_postcode() -> None:
    assert is_valid_postcode("1234AB") and is_valid_postcode("1234 AB")
    for bad in ("0234AB", "1234ab", "1234  AB", "123AB", "1234ABC", " 1234AB", 1234):
        assert not is_valid_postcode(bad)


def test_uuid() -> None:
    assert is_valid_uuid("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert is_valid_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E")
    for bad in ("0f8fad5bd9cb469fa16570867728950e", "0f8fad5b-d9cb-469f-a165-70867728950",
                "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e", None):
        assert not is_valid_uuid(bad)
