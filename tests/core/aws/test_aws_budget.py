"""The cost budget: a hard hourly ceiling, spread across tracks, newcomers first."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from crowdmood_gui.core.aws.budget import CostBudget


def simulate(budget, tracks, seconds, *, ask_every=2.0, step=0.5, arrivals=None):
    """Each present track asks every ``ask_every`` s (the sampler's interval); a grant is a crop."""
    arrivals = arrivals or {t: 0.0 for t in tracks}
    analysed: set[int] = set()
    grants: list[tuple[float, int]] = []
    next_ask = {t: arrivals[t] for t in tracks}
    now = 0.0
    while now < seconds:
        for track in tracks:
            if arrivals[track] <= now and next_ask[track] <= now:
                next_ask[track] = now + ask_every
                if budget.wants_sample(track, now, track in analysed):
                    assert budget.charge(track, now)
                    analysed.add(track)
                    grants.append((now, track))
        now += step
    return grants


def max_in_window(times, window=3600.0):
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_twenty_tracks_stay_within_the_hourly_budget_and_share_it():
    budget = CostBudget(1.00, 0.001)
    tracks = list(range(20))
    grants = simulate(budget, tracks, 3600)
    spent = budget.stats(3600).spent_usd
    assert spent <= 1.00 + 1e-9
    assert spent >= 0.95  # the budget is used, not wasted
    per_track = Counter(t for _, t in grants)
    assert len(per_track) == 20
    assert min(per_track.values()) >= 0.7 * max(per_track.values())  # spread evenly
    # Without the budget the sampler would have sent 20 x 1800 = 36,000 crops ($36/h).
    assert len(grants) <= 1000


def test_sliding_hour_is_a_hard_ceiling_over_two_hours():
    budget = CostBudget(0.50, 0.001)
    grants = simulate(budget, list(range(20)), 7200)
    assert max_in_window([t for t, _ in grants]) <= 500


def test_every_newcomer_is_analysed_quickly_even_when_the_budget_is_contended():
    budget = CostBudget(1.00, 0.001)
    tracks = list(range(30))
    arrivals = {t: (0.0 if t < 20 else 600.0 + 30.0 * (t - 20)) for t in tracks}
    grants = simulate(budget, tracks, 1200, arrivals=arrivals)
    first = {}
    for t, track in grants:
        first.setdefault(track, t)
    for track in range(20, 30):
        assert first[track] - arrivals[track] <= 6.0, (track, first.get(track))


def test_few_tracks_under_budget_are_not_throttled():
    budget = CostBudget(1.00, 0.001)
    grants = simulate(budget, [1], 3600, ask_every=5.0)
    assert len(grants) == 720  # one crop every 5 s = $0.72/h: all allowed


def test_analysed_track_waits_longer_when_many_compete():
    few, many = CostBudget(1.0, 0.001), CostBudget(1.0, 0.001)
    g_few = simulate(few, [1, 2], 600)
    g_many = simulate(many, list(range(20)), 600)
    gap = lambda grants, track: (lambda ts: (ts[-1] - ts[1]) / max(1, len(ts) - 2))([t for t, k in grants if k == track])
    assert gap(g_many, 1) > 5 * gap(g_few, 1)


def test_projection_spend_and_ungated_submits():
    budget = CostBudget(1.0, 0.001)
    for i in range(60):  # 60 crops in 60 s = 3600/h
        now = float(i)
        budget.wants_sample(i, now, False) and budget.charge(i, now)
    stats = budget.stats(60.0)
    # The burst (2 % of the hour = 20) plus 59 s of refill at 980/h.
    assert stats.images == 20 + int(59 * 980 / 3600)
    assert stats.spent_usd == pytest.approx(stats.images * 0.001)
    assert stats.projected_usd_per_hour == pytest.approx(stats.images * 0.001 * 3600 / 60)
    # A submit that never asked wants_sample still needs a token.
    empty = CostBudget(0.0, 0.001)
    assert not empty.wants_sample(1, 0.0, False)
    assert not empty.charge(1, 0.0)
    free = CostBudget(1.0, 0.0)
    assert free.images_per_hour == math.inf
    assert all(free.wants_sample(1, float(i), True) for i in range(100))
    refunded = CostBudget(1.0, 0.001)
    refunded.wants_sample(1, 0.0, False)
    refunded.charge(1, 0.0)
    refunded.refund(0.0)
    assert refunded.stats(1.0).images == 0


def test_unused_grants_expire():
    budget = CostBudget(1.0, 0.001, grant_ttl_s=5.0)
    assert budget.wants_sample(1, 0.0, False)
    budget.stats(10.0)  # prunes the grant: the crop was never cut
    assert budget._granted == {}
