"""The classification table as pure logic (the socket-level cases are in test_transport)."""

from __future__ import annotations

import pytest
import requests

from adapter.duo import classify
from adapter.errors import (
    DuoRejected, DuplicateDocument, OutcomeUnknown, SystemFault, TransientError,
)


@pytest.mark.parametrize("faultcode, expected", [
    ("soapenv:Client.DK0004", DuoRejected),
    ("Server.DK0050", DuoRejected),
    ("soapenv:Server.DK0051", TransientError),
    ("Client.EK0030", SystemFault),
    ("Client.EK0031", SystemFault),
    ("Client.DK0002", SystemFault),
    ("Client.DK0005", SystemFault),
    ("Client.DK0011", SystemFault),
    ("Client.EK0020", SystemFault),
    ("Client.EK0023", SystemFault),
    ("VersionMismatch.DK0001", SystemFault),
    ("soapenv:Client", SystemFault),
    ("Server", OutcomeUnknown),
    ("Server.INT500", OutcomeUnknown),
])
def test_faults(faultcode: str, expected: type[Exception]) -> None:
    assert type(classify.fault_error(faultcode, "tekst", mutating=True)) is expected


def test_record_fault_keeps_code_and_text() -> None:
    error = classify.fault_error("soapenv:Client.DK0004", "Bericht niet conform XSD",
                                 mutating=True)
    assert isinstance(error, DuoRejected)
    assert error.errors == [("DK0004", "Bericht niet conform XSD")]


def test_unknown_server_fault_on_a_read_is_transient() -> None:
    assert type(classify.fault_error("Server", "x", mutating=False)) is TransientError


def test_rejections() -> None:
    assert isinstance(classify.rejection_error([("VZ900", "x")]), DuplicateDocument)
    error = classify.rejection_error([("VZ007", "a"), ("VZ009", "b")])
    assert type(error) is DuoRejected and [c for c, _ in error.errors] == ["VZ007", "VZ009"]


@pytest.mark.parametrize("status, expected", [
    (429, TransientError), (502, TransientError), (503, TransientError),
    (504, OutcomeUnknown), (500, OutcomeUnknown), (404, SystemFault), (400, SystemFault),
])
def test_http_status(status: int, expected: type[Exception]) -> None:
    assert type(classify.http_status_error(status, mutating=True)) is expected


@pytest.mark.parametrize("exc, expected", [
    (requests.exceptions.SSLError("x"), SystemFault),
    (requests.exceptions.ConnectTimeout("x"), TransientError),
    (requests.exceptions.ReadTimeout("x"), OutcomeUnknown),
    (requests.exceptions.ChunkedEncodingError("x"), OutcomeUnknown),
    (requests.exceptions.ConnectionError(ConnectionResetError()), OutcomeUnknown),
    (requests.exceptions.ConnectionError(ConnectionRefusedError()), TransientError),
    (requests.exceptions.InvalidURL("x"), SystemFault),
])
def test_transport(exc: requests.RequestException, expected: type[Exception]) -> None:
    assert type(classify.transport_error(exc, mutating=True)) is expected


def test_split_faultcode() -> None:
    assert classify.split_faultcode("soapenv:Client.DK0004") == ("Client", "DK0004")
    assert classify.split_faultcode(" Client ") == ("Client", None)
