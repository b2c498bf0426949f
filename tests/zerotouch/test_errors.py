"""Mapping Google's error model to exception classes, and what the exceptions say."""

import pickle

import pytest

from zerotouch import (
    AlreadyExists,
    ApiError,
    Conflict,
    FailedPrecondition,
    InternalError,
    InvalidArgument,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    Timeout,
    Unauthenticated,
    Unavailable,
)
from zerotouch.errors import error_class, parse_retry_after


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (400, "INVALID_ARGUMENT", InvalidArgument),
        (400, "OUT_OF_RANGE", InvalidArgument),
        (400, "FAILED_PRECONDITION", FailedPrecondition),
        (400, None, InvalidArgument),
        (401, "UNAUTHENTICATED", Unauthenticated),
        (403, "PERMISSION_DENIED", PermissionDenied),
        (404, "NOT_FOUND", NotFound),
        (409, "ALREADY_EXISTS", AlreadyExists),
        (409, "ABORTED", Conflict),
        (429, "RESOURCE_EXHAUSTED", RateLimited),
        (429, None, RateLimited),
        (500, "INTERNAL", InternalError),
        (502, None, Unavailable),
        (503, "UNAVAILABLE", Unavailable),
        (504, "DEADLINE_EXCEEDED", Unavailable),
        # A proxy's odd body never turns a server error into a client error, nor the reverse.
        (503, "INVALID_ARGUMENT", Unavailable),
        (400, "UNAVAILABLE", InvalidArgument),
        (418, None, ApiError),
    ],
)
def test_error_class_follows_status_then_http_code(code, status, expected):
    assert error_class(code, status) is expected


def test_already_exists_is_a_conflict():
    assert issubclass(AlreadyExists, Conflict)


def test_api_error_reads_as_a_sentence_and_keeps_the_facts():
    error = FailedPrecondition(
        code=400,
        status="FAILED_PRECONDITION",
        message="The device is claimed by another customer",
        details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "DEVICE_CLAIMED"}],
        api_method="partners.devices.claim",
        method="POST",
        url="http://127.0.0.1/v1/partners/1/devices:claim",
    )

    assert str(error) == (
        "partners.devices.claim was refused by the zero-touch API (HTTP 400 FAILED_PRECONDITION): "
        "The device is claimed by another customer."
    )
    assert error.reason == "DEVICE_CLAIMED"
    assert (error.method, error.url) == ("POST", "http://127.0.0.1/v1/partners/1/devices:claim")


def test_outcome_unknown_says_what_to_do():
    cause = Timeout("partners.devices.claimAsync timed out while reading the answer", request_sent=True)
    error = OutcomeUnknown(cause=cause, attempts=1, api_method="partners.devices.claimAsync")

    assert str(error).startswith("The outcome of partners.devices.claimAsync is unknown")
    assert "timed out" in str(error)
    assert str(error).endswith("Read the current state before submitting it again.")


def test_errors_survive_pickling_for_task_queues():
    error = NotFound(
        code=404, status="NOT_FOUND", message="No such device", api_method="partners.devices.get"
    )
    wrapped = OutcomeUnknown(cause=error, attempts=2, api_method="partners.devices.unclaim")

    copy = pickle.loads(pickle.dumps(wrapped))  # noqa: S301 - bytes made by this test

    assert type(copy) is OutcomeUnknown
    assert str(copy) == str(wrapped)
    assert type(copy.cause) is NotFound
    assert copy.cause.code == 404


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_is_read_in_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_server_errors_read_as_failures_not_refusals():
    error = Unavailable(
        code=503,
        status="UNAVAILABLE",
        message="The service is currently unavailable.",
        api_method="partners.devices.get",
    )

    assert str(error) == (
        "partners.devices.get failed on the side of the zero-touch API (HTTP 503 UNAVAILABLE): "
        "The service is currently unavailable."
    )
