"""The chaos run at CI size (``bench.chaos``, the same function as ``zt_bench chaos``): 200 devices
claimed while a sync runs, the worker SIGKILLed three times, the API failing 20% of calls, dropping
answers after acting and refusing calls over a quota, a short outage, Redis and the web process
restarted. Every invariant must hold."""

import io
import shutil

import pytest

from bench.chaos import ChaosPlan, run_chaos

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="the chaos run needs redis-server"),
]


def test_a_small_chaos_run_keeps_every_invariant():
    out = io.StringIO()

    report = run_chaos(ChaosPlan.small(seed=3), out)

    shown = "\n".join([out.getvalue(), *report.lines(), report.logs])
    assert report.invariants == {
        "100% of items terminal": True,
        "0 devices submitted twice": True,
        "the cache equals the emulator after the next sync": True,
        "every audit row matches a real outcome": True,
    }, shown
    # The trouble did happen: server errors were injected and answers lost after the API acted.
    assert report.api_answers["500"] and report.api_answers["dropped"], shown
    print(shown)  # the figures, for `pytest -s`
