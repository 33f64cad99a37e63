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


def crowd_for(agg: TimelineAggregator, start_s: float, seconds: float, people: int = 20,
              crops_per_s: float = 5.0) -> None:
    """A crowd that stays: frames at 5 Hz, crops round-robin, the heartbeat at 4 Hz."""
    ids = list(range(1000, 1000 + people))
    crop = 0
    for step in range(int(seconds * 20)):
        t = start_s + step / 20.0
        if step % 4 == 0:
            agg.observe_frame(t, people, ids)
        while crop < (t - start_s) * crops_per_s:
            kind = EMOTIONS[crop % len(EMOTIONS)]
            agg.add_record(t - 0.3, record({kind: 60.0 + crop % 7, "CALM": 30.0}, ids[crop % people], key=f"k{crop}"))
            crop += 1
        if step % 5 == 0:
            agg.pop_updates()


def test_half_an_hour_more_of_a_crowd_in_view_keeps_no_more():
    import tracemalloc

    tracemalloc.start()  # from the start: what is freed later was traced when made
    try:
        agg = TimelineAggregator(retain_s=60)
        crowd_for(agg, 0.0, 300)  # past the retention: the window is full
        held, entries = agg.crowd.held(), agg.bucket_entries()
        buckets = {p: len(agg.rows(p)) for p in agg.periods}
        crowd_for(agg, 300.0, 900)  # CPython's free lists (tuples, floats) fill up meanwhile
        before = tracemalloc.get_traced_memory()[0]
        crowd_for(agg, 1200.0, 900)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert agg.crowd.held() == pytest.approx(held, rel=0.02)  # same people, same ~120 s of crops
    assert agg.bucket_entries() == pytest.approx(entries, rel=0.05)
    assert {p: len(agg.rows(p)) for p in agg.periods} == pytest.approx(buckets, abs=1)
    assert grown < 32 * 1024  # 4500 more crops, 900 more 1-s periods: nothing left behind


def reachable_bytes(root) -> int:
    """Bytes of every object reachable from ``root`` (``sys.getsizeof``: an array or a set
    with its buffer), classes, functions, modules and locks left out."""
    import gc
    import sys
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def test_the_retained_state_is_compact():
    agg = TimelineAggregator(retain_s=60)
    crowd_for(agg, 0.0, 300)
    crops, entries = agg.crowd.held()["crops"], agg.bucket_entries()
    assert crops >= 300 and entries >= 20 * 60
    # Doubles for each crop (time, crop, estimate: 136 bytes) and ids of people in ended
    # periods, shared between periods with the same people; as tuples of floats and sets
    # the same state took 569 KB.
    assert reachable_bytes(agg) < 136 * crops + 8 * entries + 64 * 1024  # 122 KB; before: 569 KB
