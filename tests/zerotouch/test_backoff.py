"""The backoff computation: exponential ceiling, full jitter, Retry-After as a floor."""

import pytest

from zerotouch import RetryPolicy
from zerotouch.retry import backoff_delay

POLICY = RetryPolicy(initial_backoff=0.5, max_backoff=4.0, multiplier=2.0, max_attempts=10)


@pytest.mark.parametrize(
    ("retry_number", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (500, 4.0)]
)
def test_ceiling_doubles_up_to_the_cap(retry_number, ceiling):
    assert backoff_delay(retry_number, POLICY, random=lambda: 1.0) == ceiling


def test_full_jitter_draws_between_zero_and_the_ceiling():
    assert backoff_delay(3, POLICY, random=lambda: 0.0) == 0.0
    assert backoff_delay(3, POLICY, random=lambda: 0.25) == 0.5


def test_retry_after_is_a_floor_not_a_ceiling():
    assert backoff_delay(1, POLICY, retry_after=3.0, random=lambda: 1.0) == 3.0
    assert backoff_delay(5, POLICY, retry_after=1.0, random=lambda: 1.0) == 4.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_backoff": 0},
        {"initial_backoff": 2, "max_backoff": 1},
        {"multiplier": 0.5},
        {"max_attempts": 0},
    ],
)
def test_nonsense_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
