"""Process-wide tunings of a live run: the cyclic garbage collector (run in a subprocess:
``gc.freeze`` and the thresholds are the whole interpreter's)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import gc, json, time
from crowdmood_gui.core.process_stats import GC_YOUNG_THRESHOLD, process_figures, tune_gc_for_live

started = (time.monotonic(), time.process_time())
before = process_figures(*started)
startup = [[i] for i in range(50_000)]  # objects alive before the live run
pauses = tune_gc_for_live()
frozen = gc.get_freeze_count()
young = gc.get_threshold()[0]

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a

for _ in range(3 * GC_YOUNG_THRESHOLD):  # garbage in reference cycles, as a live run makes
    cycle()
young_runs = pauses.collections
print(json.dumps({"before": before, "after": process_figures(*started), "frozen": frozen, "young": young,
                  "young_runs": young_runs, "count_now": gc.get_count()[0]}))
"""


def run_script() -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_live_gc_tuning_freezes_start_up_objects_and_collects_young_cycles_less_often():
    from crowdmood_gui.core.process_stats import GC_YOUNG_THRESHOLD

    got = run_script()
    assert got["frozen"] >= 50_000  # the start-up objects are out of every later collection
    assert got["young"] == GC_YOUNG_THRESHOLD
    # 60 000 cyclic objects: a handful of young collections (CPython's 700 would run ~85)
    assert 1 <= got["young_runs"] <= 11
    assert got["count_now"] < GC_YOUNG_THRESHOLD  # the cycles were still collected


def test_gc_pauses_are_reported_only_once_tuned():
    got = run_script()
    assert "gc_collections" not in got["before"]
    after = got["after"]
    assert after["gc_collections"] >= 1  # the young collections of the cycles (not the start-up collect)
    assert after["gc_pause_max_ms"] <= after["gc_pause_ms_total"]
    assert after["gc_pause_ms_total"] > 0
