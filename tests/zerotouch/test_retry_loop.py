"""The retry loop on its own, with a clock that only moves when it sleeps: which failures are sent
again, and which become ``OutcomeUnknown``, by the call's safety mark."""

import pytest

from zerotouch import (
    FailedPrecondition,
    InternalError,
    OutcomeUnknown,
    RateLimited,
    RetryPolicy,
    Safety,
    Unavailable,
)
from zerotouch.retry import Failure, Retrying

POLICY = RetryPolicy(initial_backoff=0.1, max_backoff=0.1, max_attempts=4)
ANSWER = {"done": True}


def unavailable():
    return Failure(
        Unavailable(code=503, status="UNAVAILABLE", message="busy"), acted=True, retryable=True, shed=True
    )


def server_error():
    return Failure(InternalError(code=500, status="INTERNAL", message="oops"), acted=True, retryable=True)


def quota():
    return Failure(
        RateLimited(code=429, status="RESOURCE_EXHAUSTED", message="slow"), acted=False, retryable=True
    )


def refused():
    return Failure(
        FailedPrecondition(code=400, status="FAILED_PRECONDITION", message="no"), acted=True, retryable=False
    )


def run(safety, *outcomes, deadline=60.0):
    """The loop over attempts that come to ``outcomes`` in turn: (its result or exception, attempts)."""
    now = [0.0]
    answers = iter(outcomes)
    retrying = Retrying(
        safety,
        POLICY,
        deadline,
        clock=lambda: now[0],
        sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
        random=lambda: 1.0,
    )
    try:
        result = retrying.run(
            lambda remaining: next(answers),
            acquire=lambda: None,
            too_late=lambda: AssertionError("no time was left"),
        )
    except Exception as exc:  # the outcome under test
        return exc, retrying.attempts
    return result, retrying.attempts


@pytest.mark.parametrize("safety", list(Safety))
def test_a_transient_failure_the_server_did_not_act_on_is_sent_again(safety):
    assert run(safety, quota(), ANSWER) == (ANSWER, 2)


@pytest.mark.parametrize("safety", [Safety.READ, Safety.IDEMPOTENT])
def test_reads_and_idempotent_calls_are_sent_again_after_a_server_error(safety):
    assert run(safety, unavailable(), unavailable(), ANSWER) == (ANSWER, 3)


def test_a_once_call_the_server_may_have_acted_on_is_not_sent_again():
    error, attempts = run(Safety.ONCE, unavailable(), ANSWER)

    assert isinstance(error, OutcomeUnknown) and isinstance(error.cause, Unavailable)
    assert attempts == error.attempts == 1


def test_a_submission_answered_503_is_sent_again_as_a_refusal():
    assert run(Safety.SUBMIT, unavailable(), unavailable(), ANSWER) == (ANSWER, 3)


def test_a_submission_refused_after_a_503_is_refused_not_unknown():
    error, attempts = run(Safety.SUBMIT, unavailable(), refused())

    assert isinstance(error, FailedPrecondition) and attempts == 2


@pytest.mark.parametrize("safety", [Safety.ONCE, Safety.SUBMIT])
def test_a_once_call_or_submission_answered_500_is_not_sent_again(safety):
    error, attempts = run(safety, server_error(), ANSWER)

    assert isinstance(error, OutcomeUnknown) and isinstance(error.cause, InternalError)
    assert attempts == error.attempts == 1


def test_a_refusal_after_an_attempt_that_may_have_acted_is_an_unknown_outcome_for_a_change():
    error, attempts = run(Safety.IDEMPOTENT, unavailable(), refused())
    assert isinstance(error, OutcomeUnknown) and isinstance(error.cause, FailedPrecondition)
    assert attempts == 2

    error, _ = run(Safety.READ, unavailable(), refused())
    assert isinstance(error, FailedPrecondition)


def test_a_refusal_at_the_first_attempt_is_raised_as_it_is():
    error, attempts = run(Safety.IDEMPOTENT, refused())

    assert isinstance(error, FailedPrecondition) and attempts == 1


def test_the_last_error_is_raised_after_the_last_attempt_or_at_the_deadline():
    error, attempts = run(Safety.READ, *[unavailable()] * POLICY.max_attempts)
    assert isinstance(error, Unavailable) and attempts == POLICY.max_attempts

    error, attempts = run(Safety.IDEMPOTENT, unavailable(), unavailable(), deadline=0.15)
    assert isinstance(error, OutcomeUnknown) and attempts == 2
