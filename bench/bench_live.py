"""Live console figures, measured in one run on one machine (issue #4's targets).

    python bench/bench_live.py [--seconds 30] [--face-runs 3] [--platform xvfb|offscreen]
                               [--json-out FILE]

Builds its test sources with OpenCV into a temp dir (nothing is downloaded):
- ``640x360``: tests/data/single_face.mp4 (640x360, 30 fps, 72 frames; the bundled demo
  before issue #12 made it a crowd), looped by the console;
- ``1280x720``: the demo upscaled to 1280x720 (INTER_LINEAR), repeated 9 times into one
  30 fps mp4 (21.6 s), looped by the console;
- ``face appears``: 3 s of a face-free frame (the demo's first frame with every detected
  face covered by its surrounding colour and blurred hard; checked with the detector)
  followed by the demo frames three times (7.2 s), played once (``--no-loop``).

Each source runs ``python -m crowdmood_gui --source <clip> --exit-after N --stats-out F``
under ``xvfb-run -a -s "-screen 0 1600x900x24"`` (default; ``--platform offscreen`` uses
``QT_QPA_PLATFORM=offscreen``) with its own empty ``CROWDMOOD_HOME``, and reports:
- display fps, detection Hz, frame-to-paint latency p50/p95 (the app's own figures);
- CPU cores: the app's own figure (its CPU time over its wall time) and a cross-check,
  ``resource.getrusage(RUSAGE_CHILDREN)`` user+sys over the wall time of the child; under
  xvfb-run that includes the X server (what painting really costs on the machine);
- peak RSS: the app's figure (its ru_maxrss) and a cross-check sampled with psutil every
  0.25 s (ru_maxrss of the children is not used: Linux keeps the forking parent's
  high-water mark across exec); start -> first frame (process start -> first frame);
- face -> chart: from the first painted frame that shows the face to the first chart
  redraw with an analysed expression point. The app's ``--stats-out`` has no such field,
  so the face runs start the console through this script (``--child-face``), which wraps
  ``VideoView.paintEvent`` and ``EmotionChart.redraw`` to note those two wall times and
  then runs the same ``crowdmood_gui.cli.main``; nothing in crowdmood_gui is changed. The
  session store (``CROWDMOOD_HOME/sessions/*/session.db``) gives the breakdown: media time
  of the first analysed record after the face appears, and the first timeline row with an
  analysed face.

With ``--crowd`` (issue #12) it also runs crowd sources, grid clips of
``tests/data/single_face.mp4`` built by ``tests/core/crowd_grid.py`` (``1080p-16x16``: 256
faces ~28 px wide, 10 s; ``4k-24x24``: 576 faces ~37 px, 5 s; both looped), each with
today's path (``detection.tiling = false``), ``allfull`` (tiles, every live cycle a full one:
``detection.live_full_cycle_s = 0``, the schedule before refresh-only cycles) and the new one,
through a child wrapper
(``--child-refresh``) that notes when each track is matched to a detection: **box refresh
rate per face** (matches per second over each track's span, median and 10th percentile
over the tracks followed for at least half the run) and the 95th percentile of the gaps
between two refreshes of one face. Beside it, apart, **measured from the image** per face:
a detection or an optical-flow measurement between detections (``core/flow.py``, on by
default; ``--paths noflow`` turns it off, ``flow2`` re-detects a face the flow measures at 2 Hz), median, p10 and gap p95: a flow measurement
never counts as a re-detection. Faces on screen = tracks; the wrapper changes nothing in
crowdmood_gui. The wrapper also reads ``/proc/self/task/*/stat`` every second: each thread's
CPU seconds per second of the run (``thread_cores``, by Python thread name or kernel name),
and the session store gives the crowd line's reads (crops per second, people read per 10 s,
seconds between two crops of one person). It also reads the frame counters of the capture
channel, the signal bridge and the video view: frames decoded, dropped before the display
thread, dropped before the GUI, set on the view, painted. ``--ref REV`` runs each crowd
path on ``crowdmood_gui/`` of an older commit (``git archive``) just before this tree's.

Prints a table, writes JSON with ``--json-out``; never asserts on timings (shared, noisy
machines: the load average is recorded next to the figures).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, code_version, cpu_model, read_frames, write_json, write_video  # noqa: E402
DEMO = ROOT / "tests" / "data" / "single_face.mp4"  # 640x360, 30 fps, 72 frames: the bundled demo until issue #12 made it a crowd
NO_FACE = ROOT / "tests" / "data" / "no_face.mp4"
XVFB_SCREEN = "-screen 0 1600x900x24"
FPS = 30.0
FACE_FREE_S = 3.0


# --- sources ---------------------------------------------------------------------------


def face_free_frame(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """``frame`` with every face the app's detector finds covered and blurred hard; falls
    back to the first frame of tests/data/no_face.mp4 if a face is still found."""
    sys.path.insert(0, str(ROOT))
    from crowdmood_gui.core.detection import FaceDetector

    detector = FaceDetector()
    out = frame.copy()
    h, w = out.shape[:2]
    for _ in range(3):
        faces = detector.detect(out)
        if not faces:
            return cv2.resize(out, size), "demo frame 0, faces covered"
        for d in faces:
            bw, bh = d.x2 - d.x1, d.y2 - d.y1
            x1, y1 = max(0, int(d.x1 - 0.5 * bw)), max(0, int(d.y1 - 0.6 * bh))
            x2, y2 = min(w, int(d.x2 + 0.5 * bw)), min(h, int(d.y2 + 0.6 * bh))
            out[y1:y2, x1:x2] = out[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0).astype(np.uint8)
        out = cv2.GaussianBlur(out, (0, 0), 9)
    fallback = cv2.resize(read_frames(NO_FACE)[0], size)
    if detector.detect(fallback):
        raise SystemExit("could not build a face-free frame")
    return fallback, "tests/data/no_face.mp4 frame 0"


def build_sources(tmp: Path) -> dict[str, dict]:
    demo = read_frames(DEMO)
    h, w = demo[0].shape[:2]
    big = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR) for f in demo]
    repeat = math.ceil(20.0 * FPS / len(demo))
    hd = write_video(tmp / "demo_1280x720.mp4", big * repeat, FPS)
    empty, how = face_free_frame(demo[0], (w, h))
    onset_frames = int(FACE_FREE_S * FPS)
    face = write_video(tmp / "face_appears.mp4", [empty] * onset_frames + demo * 3, FPS)
    return {
        "640x360": {"path": DEMO, "desc": f"single_face.mp4 640x360 30 fps, {len(demo)} frames, looped"},
        "1280x720": {"path": hd, "desc": f"demo upscaled 1280x720 30 fps, {len(demo) * repeat} frames "
                                         f"({len(demo) * repeat / FPS:.1f} s), looped"},
        "face": {"path": face, "onset_s": onset_frames / FPS,
                 "desc": f"{onset_frames} face-free frames ({how}) then the demo x3, 640x360 30 fps, once"},
    }


# --- running the console ---------------------------------------------------------------


def is_console(proc: psutil.Process) -> bool:
    """The python process that runs the console (not the xvfb-run shell around it)."""
    cmdline = proc.cmdline()
    return bool(cmdline) and os.path.basename(cmdline[0]).startswith("python") and (
        cmdline[1:3] == ["-m", "crowdmood_gui"] or "--child-face" in cmdline[1:3]
        or "--child-refresh" in cmdline[1:3])


DROP_PAGE_CACHE = False  # --drop-page-cache


def drop_page_cache() -> None:
    """Empty the kernel's page cache (root only). A process's RSS counts the pages of its
    shared libraries that are mapped, and a fault maps the neighbouring pages already in the
    cache: the same console measured 354 and 408 MB depending on what earlier runs (a test
    suite) had read of cv2's 74 MB library. Dropped before each run, the runs compare."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        print(f"cannot drop the page cache ({exc}); RSS figures include what is cached", file=sys.stderr)


def run_console(source: Path, seconds: float, platform_name: str, extra: list[str] | None = None,
                face_onset: float | None = None, refresh_probe: Path | None = None,
                code_root: Path = ROOT) -> dict:
    with tempfile.TemporaryDirectory(prefix="crowdmood-live-") as tmp:
        tmp = Path(tmp)
        stats_out, probe_out = tmp / "stats.json", tmp / "probe.json"
        env = dict(os.environ, CROWDMOOD_HOME=str(tmp / "home"))
        if refresh_probe is not None:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child-refresh", str(refresh_probe), "--"]
        elif face_onset is None:
            cmd = [sys.executable, "-m", "crowdmood_gui"]
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child-face", f"{face_onset}",
                   "--probe-out", str(probe_out), "--"]
        cmd += ["--source", str(source), "--exit-after", f"{seconds:g}", "--stats-out", str(stats_out), *(extra or [])]
        if platform_name == "xvfb":
            cmd = ["xvfb-run", "-a", "-s", XVFB_SCREEN, *cmd]
            env.pop("QT_QPA_PLATFORM", None)
        else:
            env["QT_QPA_PLATFORM"] = "offscreen"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()
        started = time.monotonic()
        log_path = tmp / "console.log"
        peak_rss = peak_private = 0
        if DROP_PAGE_CACHE:
            drop_page_cache()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, env=env, cwd=code_root, stdout=log, stderr=subprocess.STDOUT)
            root = psutil.Process(proc.pid)
            console = None
            while proc.poll() is None:  # psutil cross-check of the peak RSS, every 0.25 s
                try:
                    if console is None:
                        console = next((p for p in [root, *root.children(recursive=True)] if is_console(p)), None)
                    if console is not None:
                        mem = console.memory_info()
                        peak_rss = max(peak_rss, mem.rss)
                        # private: RSS less file-backed pages (shared libraries), whose count
                        # depends on what earlier processes left in the page cache
                        peak_private = max(peak_private, mem.rss - mem.shared)
                except psutil.Error:
                    pass
                time.sleep(0.25)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0 or not stats_out.exists():
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"console failed ({proc.returncode}):\n{tail}")
        stats = json.loads(stats_out.read_text())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result = {
            "app": stats,
            "children_cpu_cores": round(cpu / wall, 2),
            "children_wall_s": round(wall, 2),
            "sampled_peak_rss_mb": round(peak_rss / 2**20, 1),
            "sampled_peak_private_mb": round(peak_private / 2**20, 1),
            "load_avg_at_start": [round(x, 2) for x in load],
        }
        if refresh_probe is not None:
            result["reads"] = crowd_reads(tmp / "home")
        if face_onset is not None:
            result["probe"] = json.loads(probe_out.read_text()) if probe_out.exists() else None
            result["store"] = store_breakdown(tmp / "home", face_onset)
        return result


def store_breakdown(home: Path, onset: float) -> dict:
    """First analysed record and first timeline row with an analysed face, from the store."""
    dbs = glob.glob(str(home / "sessions" / "*" / "session.db"))
    if not dbs:
        return {"error": "no session.db"}
    db = sqlite3.connect(f"file:{dbs[0]}?mode=ro", uri=True)
    try:
        first = db.execute(
            "SELECT media_time_s, captured_at FROM records WHERE dominant IS NOT NULL AND media_time_s >= ? "
            "ORDER BY media_time_s LIMIT 1", (onset - 0.05,)).fetchone()
        periods = [r[0] for r in db.execute("SELECT DISTINCT period FROM timeline ORDER BY period")]
        row = None
        if periods:
            row = db.execute("SELECT t FROM timeline WHERE period = ? AND analysed > 0 ORDER BY t LIMIT 1",
                             (periods[0],)).fetchone()
        records = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    finally:
        db.close()
    return {
        "records": records,
        "first_record_media_s": first[0] if first else None,
        "first_record_after_onset_s": round(first[0] - onset, 3) if first else None,
        "timeline_period_s": periods[0] if periods else None,
        "first_analysed_row_t": row[0] if row else None,
    }


def crowd_reads(home: Path) -> dict:
    """What the crowd line gets (from the store): crops analysed per second, distinct people
    read in the last 10 s of the run (after the first sweep), and the median and p90 of the
    seconds between two crops of one person."""
    dbs = glob.glob(str(home / "sessions" / "*" / "session.db"))
    if not dbs:
        return {"error": "no session.db"}
    db = sqlite3.connect(f"file:{dbs[0]}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT track_id, media_time_s FROM records WHERE dominant IS NOT NULL "
                          "ORDER BY media_time_s").fetchall()
    finally:
        db.close()
    if not rows:
        return {"crops_analysed": 0}
    end = rows[-1][1]
    last_10s = {t for t, m in rows if m > end - 10.0}
    by_track: dict[int, list[float]] = {}
    for track, media in rows:
        by_track.setdefault(track, []).append(media)
    gaps = [b - a for times in by_track.values() for a, b in zip(times, times[1:])]
    return {
        "crops_analysed": len(rows),
        "crops_per_s": round(len(rows) / end, 1) if end > 0 else None,
        "people_read_last_10s": len(last_10s),
        "crop_gap_median_s": round(float(np.median(gaps)), 2) if gaps else None,
        "crop_gap_p90_s": round(float(np.percentile(gaps, 90)), 2) if gaps else None,
    }


# --- the instrumented child (face -> chart) --------------------------------------------


def child_face(onset: float, probe_out: Path, argv: list[str]) -> int:
    """Run the console with two probes: the first painted frame at/after ``onset`` (media
    time) and the first chart redraw that shows an analysed expression."""
    sys.path.insert(0, str(ROOT))
    from crowdmood_gui import cli
    from crowdmood_gui.ui.chart import EmotionChart
    from crowdmood_gui.ui.video_view import VideoView

    probe: dict = {"face_painted_wall": None, "face_media_s": None, "boxed_painted_wall": None,
                   "chart_point_wall": None}
    paint, redraw = VideoView.paintEvent, EmotionChart.redraw

    def paint_event(self, event) -> None:
        paint(self, event)
        shown = getattr(self, "_event", None)
        if shown is None:
            return
        if probe["face_painted_wall"] is None and shown.media_time_s >= onset - 1e-3:
            probe["face_painted_wall"] = time.time()
            probe["face_media_s"] = shown.media_time_s
        if probe["boxed_painted_wall"] is None and shown.tracks and shown.media_time_s >= onset - 1e-3:
            probe["boxed_painted_wall"] = time.time()

    def chart_redraw(self) -> None:
        redraw(self)
        if probe["chart_point_wall"] is None:
            for name in ("HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR"):
                _, y = self.curve_data(name)
                if y is not None and np.isfinite(np.asarray(y, dtype=float)).any():
                    probe["chart_point_wall"] = time.time()
                    break

    VideoView.paintEvent = paint_event
    EmotionChart.redraw = chart_redraw
    code = cli.main(argv)
    probe_out.write_text(json.dumps(probe))
    return code


# --- crowd sources and the per-face refresh probe (issue #12) -------------------------

CROWD_SOURCES = {"1080p-16x16": (16, 1920, 1080, 10.0), "4k-24x24": (24, 3840, 2160, 5.0)}
CROWD_PATHS = {
    "today": "[detection]\ntiling = false\nprecision = \"fp32\"\n",
    # the live schedule before refresh-only cycles: every cycle full (low-resolution pass, tiles, refresh)
    "allfull": "[detection]\ntiling = true\nlive_full_cycle_s = 0\nprecision = \"fp32\"\n",
    "new": "[detection]\ntiling = true\n",  # the defaults: the int8 detector
}
# Optional paths (--paths): the expression worker without the live budget's cap (a whole core:
# its one thread, as before the budget; the most overdue are still cut first).
EXTRA_CROWD_PATHS = {
    # the new path with the fp32 detector (before the int8 one became the default)
    "new-fp32": "[detection]\ntiling = true\nprecision = \"fp32\"\n",
    "share1": "[detection]\ntiling = true\n[expression]\nlive_core_share = 1.0\n",
    # a smaller budget than the default 0.25: the trade between detection and the crowd line
    "share015": "[detection]\ntiling = true\n[expression]\nlive_core_share = 0.15\n",
    # the schedule before the optical flow: every face re-detected at refresh_hz, nothing between
    "noflow": "[detection]\ntiling = true\nflow_refresh = false\n",
    # the flow between re-detections, a face it measures re-detected at 2 Hz only
    "flow2": "[detection]\ntiling = true\nflow_redetect_hz = 2.0\n",
    # detection and expression 5 nicer than the display path (the default is 0: the same)
    # shorter detection cycles (default live_cycle_ms 120): the flow's steps come between them sooner
    "cycle80": "[detection]\ntiling = true\nlive_cycle_ms = 80\n",
    "cycle60": "[detection]\ntiling = true\nlive_cycle_ms = 60\n",
    "hz6": "[detection]\ntiling = true\nrefresh_hz = 6\n",
    "busy1": "[detection]\ntiling = true\nlive_busy_share = 1.0\n",
    # the flow carrying more between re-detections at 2 Hz, in shorter cycles; the detector on one thread
    "flow2c80": "[detection]\ntiling = true\nflow_redetect_hz = 2.0\nlive_cycle_ms = 80\n",
    "thr1": "[detection]\ntiling = true\nthreads = 1\n",
    "nice5": "[detection]\ntiling = true\nlive_analysis_nice = 5\n",
}


def build_crowd_sources(tmp: Path, names: list[str]) -> dict[str, dict]:
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from crowd_grid import Grid, read_clip, reference_boxes

    frames = read_clip()
    boxes = reference_boxes(frames)
    out = {}
    for name in names:
        n, width, height, seconds = CROWD_SOURCES[name]
        grid = Grid(frames, boxes, n, width, height)
        path = grid.write(tmp / f"{name}.mp4", int(seconds * FPS), fps=FPS)
        out[name] = {"path": path, "faces": n * n,
                     "desc": f"{n}x{n} grid of single_face.mp4, {width}x{height} 30 fps, {seconds:g} s, "
                             f"faces ~{grid.face_px():.0f} px (short side), looped"}
    return out


def thread_cpu_ticks() -> dict[int, tuple[str, int]]:
    """Native thread id -> (name, user+system CPU in clock ticks) of this process's threads,
    from ``/proc/self/task/*/stat``. Python threads are named by ``threading`` (the kernel
    only knows "python"); the others keep their kernel name (Qt's, onnxruntime's, OpenCV's)."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    out = {}
    for task in glob.glob("/proc/self/task/*"):
        try:
            tid = int(os.path.basename(task))
            stat = Path(task, "stat").read_text()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            out[tid] = (names.get(tid, comm), int(fields[11]) + int(fields[12]))  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return out


class ThreadCpuProbe:
    """Samples :func:`thread_cpu_ticks` every second (a thread that ends keeps its last
    reading); :meth:`cores` gives each thread name's CPU seconds per wall second."""

    def __init__(self) -> None:
        import threading

        self._last: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="bench-thread-probe", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for tid, (name, ticks) in thread_cpu_ticks().items():
            # a name seen once stays (a Python thread's name is known only while it runs)
            known = self._last.get(tid)
            self._last[tid] = (known[0] if known and known[0] != "python" else name, ticks)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def cores(self) -> dict[str, float]:
        self._sample()
        self._stop.set()
        wall = time.monotonic() - self._started
        hz = os.sysconf("SC_CLK_TCK")
        by_name: dict[str, float] = {}
        for name, ticks in self._last.values():
            by_name[name] = by_name.get(name, 0.0) + ticks / hz
        return {k: round(v / wall, 3) for k, v in sorted(by_name.items(), key=lambda kv: -kv[1]) if v > 0}


def frame_counter(cls, instances: list) -> None:
    """Keep every instance of ``cls`` made from now on (to read its frame counters at the end)."""
    init = cls.__init__

    def keep(self, *args, **kwargs):
        init(self, *args, **kwargs)
        instances.append(self)

    cls.__init__ = keep


def child_refresh(probe_out: Path, argv: list[str]) -> int:
    """Run the console noting, per track, the wall times it was matched to a detection, each
    thread's CPU seconds per second of the run, and where frames were dropped on their way
    from the decoder to the screen. The console's code is the one in the working directory
    (this tree, or an older one exported by ``--ref``)."""
    sys.path.insert(0, os.getcwd())
    from crowdmood_gui import cli
    from crowdmood_gui.core import capture, tracking
    from crowdmood_gui.ui import bridge, video_view

    matched: dict[int, list[float]] = {}  # re-detected: matched to a detection
    measured: dict[int, list[float]] = {}  # measured from the image: a detection or the optical flow
    measured_media: dict[int, list[float]] = {}  # the same, in media time (a file may play slower than real time)
    # an older tree (--ref) has no optical flow: no FaceTracker.measure to wrap
    update, measure = tracking.FaceTracker.update, getattr(tracking.FaceTracker, "measure", None)

    def probe(self, detections, now_s, covered=None):
        visible = update(self, detections, now_s, covered)
        wall = time.monotonic()
        for track in visible:
            if track.fresh:
                matched.setdefault(track.id, []).append(wall)
                measured.setdefault(track.id, []).append(wall)
                measured_media.setdefault(track.id, []).append(now_s)
        return visible

    def probe_measure(self, centres, now_s, lost=()):
        done = measure(self, centres, now_s, lost)
        wall = time.monotonic()
        for track in done:
            measured.setdefault(track.id, []).append(wall)
            measured_media.setdefault(track.id, []).append(now_s)
        return done

    tracking.FaceTracker.update = probe
    if measure is not None:
        tracking.FaceTracker.measure = probe_measure
    captures, bridges, views = [], [], []
    frame_counter(capture.CaptureThread, captures)
    frame_counter(bridge.SignalBridge, bridges)
    frame_counter(video_view.VideoView, views)
    started = time.monotonic()
    threads = ThreadCpuProbe()
    code = cli.main(argv)
    run_s = time.monotonic() - started
    thread_cores = threads.cores()
    # decoded -> (display thread: capture slot) -> (GUI: the bridge's slot) -> set -> painted
    frames = {
        "decoded": sum(c.channel.put_count for c in captures),
        "dropped_before_display_thread": sum(c.channel.dropped for c in captures),
        "to_gui": sum(b.frames_received for b in bridges),
        "dropped_before_gui": sum(b.frames_dropped for b in bridges),
        "set_on_view": sum(v.frames_set for v in views),
        "painted": sum(v.frames_painted for v in views),
    }
    spans = {k: v for k, v in matched.items() if len(v) > 1 and v[-1] - v[0] >= run_s / 2}
    rates = [(len(v) - 1) / (v[-1] - v[0]) for v in spans.values()]
    gaps = [b - a for v in spans.values() for a, b in zip(v, v[1:])]
    # the same faces, counting every measurement from the image (a detection or the flow)
    m_spans = {k: sorted(measured[k]) for k in spans}
    m_rates = [(len(v) - 1) / (v[-1] - v[0]) for v in m_spans.values()]
    m_gaps = [b - a for v in m_spans.values() for a, b in zip(v, v[1:])]
    media_spans = {k: sorted(measured_media[k]) for k in spans}
    media_rates = [(len(v) - 1) / (v[-1] - v[0]) for v in media_spans.values() if v[-1] > v[0]]
    q = lambda xs, p: round(float(np.percentile(xs, p)), 2) if xs else None  # noqa: E731
    probe_out.write_text(json.dumps({
        "tracks_seen": len(matched),
        "faces_followed": len(spans),
        # re-detected: matched to a detection (a flow measurement never counts here)
        "refresh_hz_median": q(rates, 50),
        "refresh_hz_p10": q(rates, 10),
        "refresh_gap_p95_s": round(float(np.percentile(gaps, 95)), 3) if gaps else None,
        # measured from the image: a detection or an optical-flow measurement
        "measured_hz_median": q(m_rates, 50),
        "measured_hz_p10": q(m_rates, 10),
        "measured_gap_p95_s": round(float(np.percentile(m_gaps, 95)), 3) if m_gaps else None,
        # per second of media: below the wall-clock rate's when the file plays slower than real time
        "measured_hz_media_median": q(media_rates, 50),
        "thread_cores": thread_cores,
        "frames": frames,
    }))
    return code


def run_crowd(source: dict, config_text: str, seconds: float, platform_name: str, code_root: Path = ROOT) -> dict:
    with tempfile.TemporaryDirectory(prefix="crowdmood-crowd-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(config_text)
        probe_out = Path(tmp) / "refresh.json"
        run = run_console(source["path"], seconds, platform_name, ["--config", str(config)],
                          refresh_probe=probe_out, code_root=code_root)
        run["refresh"] = json.loads(probe_out.read_text()) if probe_out.exists() else None
        return run


# --- report --------------------------------------------------------------------------------


def summarise_live(name: str, run: dict) -> dict:
    app = run["app"]
    return {
        "source": name,
        "display_fps": app.get("display_fps"),
        "detection_hz": app.get("detection_fps"),
        "latency_p50_ms": app.get("latency_p50_ms"),
        "latency_p95_ms": app.get("latency_p95_ms"),
        "cpu_cores_app": app.get("cpu_cores"),
        "cpu_cores_children": run["children_cpu_cores"],
        "peak_rss_mb_app": app.get("peak_rss_mb"),
        "peak_rss_mb_sampled": run["sampled_peak_rss_mb"],
        "peak_private_mb_sampled": run["sampled_peak_private_mb"],
        "start_to_first_frame_s": app.get("start_to_first_frame_s"),
        "records_analysed": app.get("records_analysed"),
        # the cyclic garbage collector (holds the GIL: every thread waits), when the app reports it
        "gc_collections": app.get("gc_collections"),
        "gc_pause_ms_total": app.get("gc_pause_ms_total"),
        "gc_pause_max_ms": app.get("gc_pause_max_ms"),
        "load_avg_1m": run["load_avg_at_start"][0],
    }


def summarise_face(runs: list[dict]) -> dict:
    values, boxed, sampled = [], [], []
    for run in runs:
        p = run.get("probe") or {}
        if p.get("face_painted_wall") and p.get("chart_point_wall"):
            values.append(p["chart_point_wall"] - p["face_painted_wall"])
        if p.get("face_painted_wall") and p.get("boxed_painted_wall"):
            boxed.append(p["boxed_painted_wall"] - p["face_painted_wall"])
        s = run.get("store") or {}
        if s.get("first_record_after_onset_s") is not None:
            sampled.append(s["first_record_after_onset_s"])
    r = lambda xs: [round(x, 3) for x in xs]  # noqa: E731
    return {
        "face_to_chart_s": r(values),
        "face_to_chart_median_s": round(statistics.median(values), 3) if values else None,
        "face_to_chart_max_s": round(max(values), 3) if values else None,
        "face_to_boxed_s": r(boxed),
        "first_record_after_onset_media_s": r(sampled),
        "start_to_first_frame_s": [run["app"].get("start_to_first_frame_s") for run in runs],
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-face":
        onset, probe_out = float(sys.argv[2]), Path(sys.argv[4])
        return child_face(onset, probe_out, sys.argv[6:])
    if len(sys.argv) > 1 and sys.argv[1] == "--child-refresh":
        return child_refresh(Path(sys.argv[2]), sys.argv[4:])

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="--exit-after for the 640x360 and 1280x720 runs")
    parser.add_argument("--face-runs", type=int, default=3)
    parser.add_argument("--platform", choices=("xvfb", "offscreen"), default="xvfb")
    parser.add_argument("--crowd", default="", metavar="NAMES",
                        help="also run crowd sources, comma-separated: " + ", ".join(CROWD_SOURCES))
    parser.add_argument("--crowd-seconds", type=float, default=30.0)
    parser.add_argument("--crowd-only", action="store_true", help="skip the 640x360, 1280x720 and face runs")
    parser.add_argument("--paths", default=",".join(CROWD_PATHS), metavar="NAMES",
                        help="crowd paths to run, comma-separated, of: " + ", ".join([*CROWD_PATHS, *EXTRA_CROWD_PATHS]))
    parser.add_argument("--ref", metavar="REV",
                        help="crowd runs: also run crowdmood_gui/ of this commit (git archive), each "
                             "path's run of REV just before this tree's")
    parser.add_argument("--drop-page-cache", action="store_true",
                        help="empty the page cache before each run (root): comparable peak RSS")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    global DROP_PAGE_CACHE
    DROP_PAGE_CACHE = args.drop_page_cache
    if args.platform == "xvfb" and not shutil.which("xvfb-run"):
        parser.error("xvfb-run not found; use --platform offscreen")

    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "code": code_version(),
        "page_cache_dropped_before_each_run": DROP_PAGE_CACHE,
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()},
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        "platform": f"xvfb-run ({XVFB_SCREEN})" if args.platform == "xvfb" else "QT_QPA_PLATFORM=offscreen",
        "seconds": args.seconds,
        "ref": args.ref,
    }
    with tempfile.TemporaryDirectory(prefix="crowdmood-bench-") as tmp:
        sources = build_sources(Path(tmp))
        result["sources"] = {k: v["desc"] for k, v in sources.items()}
        raw: dict = {}
        live = []
        for name in () if args.crowd_only else ("640x360", "1280x720"):
            print(f"running {name} for {args.seconds:g} s ...", file=sys.stderr, flush=True)
            raw[name] = run_console(sources[name]["path"], args.seconds, args.platform)
            live.append(summarise_live(name, raw[name]))
        crowd_names = [n for n in args.crowd.split(",") if n]
        trees = {"": ROOT}
        if args.ref:  # the older code beside this tree's, in the same run
            ref_root = Path(tmp) / "ref"
            ref_root.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref, "crowdmood_gui"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(ref_root)], input=archive, check=True)
            trees = {f" @{args.ref}": ref_root, "": ROOT}
        crowd_sources = build_crowd_sources(Path(tmp), crowd_names)
        for name in crowd_names:
            result["sources"][name] = crowd_sources[name]["desc"]
            paths = {**CROWD_PATHS, **EXTRA_CROWD_PATHS}
            for path in (p for p in args.paths.split(",") if p):
                config_text = paths[path]
                for suffix, code_root in trees.items():
                    if suffix and path in EXTRA_CROWD_PATHS:
                        continue  # an older tree may not know the extra paths' settings
                    label = f"{name} {path}{suffix}"
                    print(f"running {label} for {args.crowd_seconds:g} s ...", file=sys.stderr, flush=True)
                    raw[label] = run_crowd(crowd_sources[name], config_text, args.crowd_seconds, args.platform,
                                           code_root)
                    row = summarise_live(label, raw[label])
                    refresh = dict(raw[label].get("refresh") or {})
                    frames = refresh.pop("frames", None) or {}
                    row.update({"faces": crowd_sources[name]["faces"], **refresh,
                                **{f"frames_{k}": v for k, v in frames.items()},
                                **(raw[label].get("reads") or {})})
                    live.append(row)
        face = sources["face"]
        face_runs = []
        for i in range(0 if args.crowd_only else args.face_runs):
            print(f"face run {i + 1}/{args.face_runs} ...", file=sys.stderr, flush=True)
            face_runs.append(run_console(face["path"], face["onset_s"] + 7.0, args.platform, ["--no-loop"],
                                         face_onset=face["onset_s"]))
        raw["face"] = face_runs
    result["live"] = live
    result["face_to_chart"] = summarise_face(face_runs) if face_runs else None
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["raw"] = raw

    keys = list(dict.fromkeys(k for row in live for k in row if k not in ("source", "thread_cores")))
    width = max(map(len, keys))
    print(f"{'':<{width}}  " + "  ".join(f"{row['source']:>18}" for row in live))
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{str(row.get(key, '')):>18}" for row in live))
    threads = list(dict.fromkeys(t for row in live for t in (row.get("thread_cores") or {})))
    if threads:  # CPU seconds per second of each thread (the crowd runs' child wrapper measures them)
        print(f"\n{'CPU s per s, by thread':<{width}}")
        for name in threads:
            print(f"{name[:width]:<{width}}  " + "  ".join(
                f"{str((row.get('thread_cores') or {}).get(name, '')):>18}" for row in live))
    print()
    for key, value in (result["face_to_chart"] or {}).items():
        print(f"{key:<{width}}  {value}")
    print(f"{'load_avg before/after':<{width}}  {result['load_avg_before']} / {result['load_avg_after']}")
    if args.json_out:
        write_json(args.json_out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
