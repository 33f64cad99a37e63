"""The one back-off policy (core/retry.py): capture, the S3 uploader and the chart poller."""

from __future__ import annotations

import random

import pytest

from crowdmood_gui.core.retry import backoff_delay


def test_the_wait_never_exceeds_the_cap():
    # capture used to wait up to 1.2x its configured reconnect_max_backoff_s
    rng = random.Random(7)
    waits = [backoff_delay(n, base_s=1, cap_s=30, jitter=0.2, rng=rng.uniform) for n in range(1, 200)]
    assert max(waits) <= 30
    assert min(waits[10:]) >= 24  # capped, then jittered down by at most 20 %


def test_jitter_spreads_the_waits_below_the_exponential():
    assert backoff_delay(3, base_s=2, cap_s=60, jitter=0.5, rng=lambda a, b: a) == 4.0
    assert backoff_delay(3, base_s=2, cap_s=60, jitter=0.5, rng=lambda a, b: b) == 8.0
    assert backoff_delay(3, base_s=2, cap_s=60, jitter=0.0) == 8.0  # no jitter: exact


def test_no_failure_no_wait_and_a_bad_jitter_is_refused():
    assert backoff_delay(0, base_s=5) == 0.0
    with pytest.raises(ValueError):
        backoff_delay(1, jitter=1.5)
