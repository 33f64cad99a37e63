"""What the live state keeps over a long run with a crowd in view (no video, no window).

    python bench/bench_live_state.py [--people 256] [--crops-per-s 50] [--minutes 60]
                                     [--checkpoints 5,15,30,60] [--json-out FILE]

Drives the live console's state the way a 1080p crowd does (issue #12's soak: a 16x16 grid,
256 faces, ~50 crops analysed a second, detection ~9 Hz), many simulated minutes fast:
the aggregator with the live retention (``pipeline.LIVE_RETAIN_S``, crowd state inside),
the chart's store (``ui/chart.TimelineStore``, 2 h) and the session store (SQLite in a
temp folder, committed every second). Each record's capture
time trails the frame by ``--lag-s`` (the analysis queue), so rows are revised as live.

At each checkpoint (simulated minutes) prints Python-heap memory (``tracemalloc``: the
total and the lines that grew most since the first checkpoint) and what is held: people,
crops kept, buckets and the people listed in them. Deterministic (seeded); the figures are
bytes and counts, not times.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import code_version, finish, loadavg  # noqa: E402

from crowdmood_gui.core.aggregation import TimelineAggregator  # noqa: E402
from crowdmood_gui.core.emotions import EMOTIONS  # noqa: E402
from crowdmood_gui.core.pipeline import LIVE_RETAIN_S  # noqa: E402
from crowdmood_gui.core.records import CaptureMeta, build_record  # noqa: E402
from crowdmood_gui.core.store import SessionStore  # noqa: E402

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def held(agg: TimelineAggregator) -> dict:
    """What the aggregator keeps: people, crops, buckets, people entries in buckets."""
    people = agg.crowd.held()
    return {
        "people": people["people"],
        "crops_kept": people["crops"],
        "buckets": {p: len(agg.rows(p)) for p in agg.periods},
        "bucket_people_entries": agg.bucket_entries(),
    }


def run(args) -> dict:
    rng = random.Random(7)
    bias = [rng.randrange(len(EMOTIONS)) for _ in range(args.people)]
    agg = TimelineAggregator(retain_s=LIVE_RETAIN_S)
    chart = None
    if args.chart:
        from crowdmood_gui.ui.chart import TimelineStore  # Qt-free class, in the ui package

        chart = TimelineStore()
    tmp = tempfile.TemporaryDirectory(prefix="crowdmood-state-")
    store = SessionStore(Path(tmp.name) / "session.db")
    frame_dt = 1.0 / args.detect_hz
    crop_dt = 1.0 / args.crops_per_s
    checkpoints = sorted(float(m) for m in args.checkpoints.split(","))
    ids = list(range(1, args.people + 1))
    next_id = args.people + 1
    t = 0.0
    next_crop = next_pop = next_flush = 0.0
    next_churn = args.new_ids_every_s if args.new_ids_every_s else float("inf")
    person = 0
    tracemalloc.start(args.frames)
    first_snapshot = None
    out: list[dict] = []
    pending: list[tuple[float, object]] = []  # (arrives at, (capture t, record))
    started = time.perf_counter()
    for minute in checkpoints:
        end = minute * 60.0
        while t < end:
            if t >= next_churn:  # a looped clip's jump: every track ends, new ids start
                ids = list(range(next_id, next_id + args.people))
                next_id += args.people
                next_churn += args.new_ids_every_s
            agg.observe_frame(t, len(ids), ids)
            while next_crop <= t:  # crops cut at this frame, analysed --lag-s later
                track = ids[person % len(ids)]
                weights = {k: rng.uniform(0, 30) for k in EMOTIONS}
                weights[EMOTIONS[bias[person % args.people]]] += 60.0
                meta = CaptureMeta("soak", "booth-1", T0 + timedelta(seconds=t), track)
                record = build_record(f"k{int(next_crop * 1e6)}-{track}",
                                      {"FaceDetails": [{"Confidence": 99.0, "Emotions": [
                                          {"Type": k, "Confidence": v} for k, v in weights.items()]}]}, meta)
                pending.append((t + args.lag_s, (t, record)))
                person += 1
                next_crop += crop_dt
            while pending and pending[0][0] <= t:
                _, (captured, record) = pending.pop(0)
                agg.add_record(captured, record)
                store.add_record(record, captured)
            if t >= next_pop:  # the heartbeat
                for period, rows in agg.pop_updates().items():
                    store.upsert_timeline(rows)
                    if chart is not None:
                        chart.add(period, rows)
                next_pop += 0.25
            if t >= next_flush:
                store.flush()
                next_flush += 1.0
            t += frame_dt
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])
        traced = sum(stat.size for stat in snapshot.statistics("filename"))
        point = {"minute": minute, "python_heap_mb": round(traced / 2**20, 2), **held(agg),
                 "chart_rows": {p: chart.count(p) for p in chart.periods} if chart is not None else None}
        if first_snapshot is None:
            first_snapshot = snapshot
        else:
            top = snapshot.compare_to(first_snapshot, "lineno")[: args.top]
            point["grew_most_since_first"] = [
                {"where": f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}",
                 "size_diff_kb": round(s.size_diff / 1024, 1), "count_diff": s.count_diff} for s in top]
        out.append(point)
        print(f"minute {minute:5.0f}: python heap {point['python_heap_mb']:7.2f} MB  people {point['people']}  "
              f"crops kept {point['crops_kept']}  buckets {point['buckets']}  "
              f"people in buckets {point['bucket_people_entries']}", flush=True)
        for line in point.get("grew_most_since_first", []):
            print(f"    {line['size_diff_kb']:+10.1f} KB {line['count_diff']:+8d} objects  {line['where']}")
    tracemalloc.stop()
    store.close()
    tmp.cleanup()
    per_hour = None
    if len(out) >= 2:
        span_h = (out[-1]["minute"] - out[-2]["minute"]) / 60.0
        per_hour = round((out[-1]["python_heap_mb"] - out[-2]["python_heap_mb"]) / span_h, 2)
    return {"checkpoints": out, "python_heap_growth_mb_per_hour_last_span": per_hour,
            "wall_s": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=256)
    parser.add_argument("--crops-per-s", type=float, default=50.0)
    parser.add_argument("--detect-hz", type=float, default=9.0, help="frames observed a second (the soak's detection rate)")
    parser.add_argument("--lag-s", type=float, default=0.3, help="capture -> analysed record")
    parser.add_argument("--new-ids-every-s", type=float, default=0.0,
                        help="every track ends and a new id starts this often (0: the crowd keeps its ids)")
    parser.add_argument("--checkpoints", default="5,15,30,60", help="simulated minutes")
    parser.add_argument("--no-chart", dest="chart", action="store_false", help="leave out the chart's store (imports Qt)")
    parser.add_argument("--frames", type=int, default=1, help="traceback depth kept by tracemalloc")
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    result = {"code": code_version(), "load_before": loadavg(), "args": {k: v for k, v in vars(args).items() if k != "json_out"}}
    result.update(run(args))
    return finish(result, args.json_out)


if __name__ == "__main__":
    raise SystemExit(main())
