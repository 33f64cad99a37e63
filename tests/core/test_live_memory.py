"""Issue #12: what the live state keeps over a day with a crowd in view is bounded, and the
compact form changes no row the chart and the session store receive."""

import hashlib
import random
from datetime import UTC, datetime

import pytest

from crowdmood_gui.core.aggregation import TimelineAggregator
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.records import CaptureMeta, build_record

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def record(emotions: dict[str, float], track: int | None, key: str = "k"):
    details = [{"Confidence": 99.0, "Emotions": [{"Type": k, "Confidence": v} for k, v in emotions.items()]}]
    return build_record(key, {"FaceDetails": details}, CaptureMeta("s", "c", T0, track))


def live_run(agg: TimelineAggregator, seconds: float, people: int = 12, seed: int = 3) -> list:
    """A crowd in front of the booth: frames at 5 Hz, a crop per person every ~2 s arriving
    0.3 s late, one in 25 arriving up to 40 s late (AWS), a duplicate delivery now and then,
    crops without a track, people leaving and new ones arriving. Returns every row handed
    out by ``pop_updates`` (the heartbeat's 4 Hz), in order."""
    rng = random.Random(seed)
    ids = list(range(1, people + 1))
    next_id = people + 1
    late: list[tuple[float, float, object]] = []
    handed: list = []
    n = 0
    for step in range(int(seconds * 20)):  # 20 Hz clock: frames every 4th tick, heartbeat every 5th
        t = step / 20.0
        if step % 4 == 0:
            if rng.random() < 0.02:  # someone leaves, someone new arrives
                ids[rng.randrange(len(ids))] = next_id
                next_id += 1
            agg.observe_frame(t, len(ids), ids)
        if step % 8 == 0:  # ~0.6 crops a tick-period: each person about every 2 s at 12 people
            track = rng.choice(ids) if rng.random() > 0.05 else None
            emotions = {k: rng.uniform(0, 100) for k in rng.sample(EMOTIONS, 3)}
            rec = record(emotions, track, key=f"k{n}")
            n += 1
            arrives = t + (rng.uniform(5, 40) if rng.random() < 0.04 else 0.3)
            late.append((arrives, t - 0.1, rec))
            if rng.random() < 0.02:
                late.append((arrives + 0.05, t - 0.1, rec))  # delivered twice
        for item in [x for x in late if x[0] <= t]:
            late.remove(item)
            agg.add_record(item[1], item[2])
        if step % 5 == 0:
            for period, rows in sorted(agg.pop_updates().items()):
                handed.extend(rows)
    return handed


def canonical(rows: list) -> str:
    """Rows as text, values to 6 decimals (summation order may move the last bits)."""
    def num(v):
        return "-" if v is None else f"{v:.6f}"

    return "\n".join(
        f"{r.period_s} {r.t} {r.faces} {r.tracks} {r.analysed} {r.rated} "
        + " ".join(num(r.emotions[k]) for k in EMOTIONS) + " | " + " ".join(num(r.shares[k]) for k in EMOTIONS)
        for r in rows)


# The rows handed out by ``live_run(TimelineAggregator(retain_s=120), 900)`` on the code before
# the compact live state (commit 0a5a11f: a Python list of tuples per person, a set per bucket).
ROWS_BEFORE = (14471, "a4af6a9fad8e0ea22373b24f3d3b0ae320027417efa1c8d626c965526a31844a")


def test_the_rows_handed_out_are_those_of_the_code_before():
    rows = live_run(TimelineAggregator(retain_s=120), 900)
    assert (len(rows), hashlib.sha256(canonical(rows).encode()).hexdigest()) == ROWS_BEFORE


def test_retained_rows_equal_those_of_a_run_that_forgets_nothing():
    kept, full = TimelineAggregator(retain_s=120), TimelineAggregator()
    live_run(kept, 900)
    live_run(full, 900)
    for period in kept.periods:
        recent = kept.rows(period)
        assert len(recent) >= 2
        assert canonical(recent) == canonical(full.rows(period)[-len(recent):])
