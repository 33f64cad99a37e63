"""What the operator is told when a stream fails, old code beside new (issue #14).

Each figure is measured twice in the same run: once with the code of ``--old`` (a commit,
default: where this branch left main) unpacked into a temporary folder, once with this
checkout. Every measurement runs in its own process with that tree first on
``PYTHONPATH``; the servers are the test ones (``tests/core``), on 127.0.0.1:

- ``lost_signal``: an HTTP MJPEG camera (the demo at 20 fps, 640×360) that goes silent
  with its connection open; the default open/read timeout (10 s). Seconds from the freeze
  to the first thing the pipeline tells the screen (stats with ``signal_lost_s`` or a
  ``reconnecting`` event), and whether the face count was cleared then.
- ``rtsp_udp_only``: GStreamer's RTSP server serving UDP only (like VLC); seconds to the
  first frame, or the error.
- ``http_401``: an MJPEG camera that wants a password, opened with a wrong one: the message.
- ``analyze_missing_camera``: ``crowdmood analyze 7`` with no camera 7: exit code and
  seconds (killed after 30 s).

    python bench/bench_stream_failures.py --json-out bench/results/stream_failures.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from benchlib import write_json  # beside this script

ROOT = Path(__file__).resolve().parents[1]
TESTS_CORE = ROOT / "tests" / "core"


# --- one measurement, in a child process ----------------------------------------------------


def measure_lost_signal() -> dict:
    import threading

    from mjpeg_server import MjpegServer, jpeg_frames_from_video

    from crowdmood_gui.core.config import AppConfig
    from crowdmood_gui.core.pipeline import NullObserver, Pipeline
    from crowdmood_gui.core.resources import DEMO_VIDEO

    seen: list = []
    cond = threading.Condition()

    class Watch(NullObserver):
        def on_stats(self, event):
            with cond:
                seen.append(("stats", time.monotonic(), event))
                cond.notify_all()

        def on_source(self, event):
            with cond:
                seen.append(("source", time.monotonic(), event))
                cond.notify_all()

    def wait(predicate, timeout):
        deadline = time.monotonic() + timeout
        with cond:
            while True:
                for item in seen:
                    if predicate(item):
                        return item
                if time.monotonic() > deadline:
                    return None
                cond.wait(0.1)

    frames = jpeg_frames_from_video(DEMO_VIDEO)
    with MjpegServer(frames, fps=20) as camera:
        config = AppConfig()
        config.source.spec = camera.url
        pipeline = Pipeline(config, Watch(), realtime=True)
        pipeline.start()
        try:
            if wait(lambda i: i[0] == "stats" and i[2].faces >= 1, 30) is None:
                return {"error": "no face seen before the freeze"}
            with cond:
                seen.clear()
            camera.frozen.set()
            frozen_at = time.monotonic()

            def told(item):
                kind, _, event = item
                return (kind == "stats" and getattr(event, "signal_lost_s", None) is not None) or (
                    kind == "source" and event.state == "reconnecting")

            first = wait(told, 30)
            if first is None:
                return {"told_after_s": None, "note": "nothing within 30 s"}
            kind, at, event = first
            faces_then = next((e.faces for k, t, e in reversed(seen) if k == "stats" and t <= at + 0.3), None)
            return {"told_after_s": round(at - frozen_at, 2), "how": "no-signal stats" if kind == "stats" else
                    "reconnecting event", "faces_shown_then": faces_then}
        finally:
            pipeline.stop(3.0)


def measure_rtsp_udp_only() -> dict:
    from rtsp_servers import GstRtspServer, gst_rtsp_available

    from crowdmood_gui.core.capture import open_source

    if not gst_rtsp_available():
        return {"skipped": "GStreamer's RTSP server is not installed"}
    with GstRtspServer("udp") as server:
        started = time.monotonic()
        try:
            with open_source(server.url, open_timeout_s=10.0) as source:
                ok = source.read() is not None
            return {"first_frame_s": round(time.monotonic() - started, 2), "frame": ok}
        except Exception as exc:  # the old code's failure is the figure
            return {"failed_after_s": round(time.monotonic() - started, 2), "message": str(exc)}


def measure_http_401() -> dict:
    from mjpeg_server import MjpegServer, jpeg_frames_from_video

    from crowdmood_gui.core.capture import open_source
    from crowdmood_gui.core.resources import DEMO_VIDEO

    frames = jpeg_frames_from_video(DEMO_VIDEO, max_frames=5)
    with MjpegServer(frames, credentials=("admin", "right")) as camera:
        started = time.monotonic()
        try:
            open_source(camera.url.replace("http://", "http://admin:wrong@"), open_timeout_s=10.0).close()
            return {"message": "opened (unexpected)"}
        except Exception as exc:
            return {"message": str(exc), "after_s": round(time.monotonic() - started, 2)}


def measure_analyze_missing_camera(tree: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "CROWDMOOD_HOME": tempfile.mkdtemp(prefix="cm-bench-")}
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "crowdmood_gui", "analyze", "7"], env=env, cwd=tree,
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return {"exit": None, "seconds": 30.0, "note": "still running after 30 s: killed"}
    return {"exit": done.returncode, "seconds": round(time.monotonic() - started, 2),
            "stderr": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""}


MEASURES = {"lost_signal": measure_lost_signal, "rtsp_udp_only": measure_rtsp_udp_only, "http_401": measure_http_401}


def child(name: str) -> None:
    import crowdmood_gui

    result = MEASURES[name]()
    result["code"] = str(Path(crowdmood_gui.__file__).parent.parent)
    print(json.dumps(result))


# --- the run ---------------------------------------------------------------------------------


def run_in(tree: Path, name: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(TESTS_CORE)]),
           "CROWDMOOD_HOME": tempfile.mkdtemp(prefix="cm-bench-")}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", name], env=env, cwd=tree,
                          capture_output=True, text=True, timeout=180)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def unpack(commit: str, into: Path) -> Path:
    archive = into / "old.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "old", filter="data")
    return into / "old"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="commit of the old code (default: the merge base with main)")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    old = args.old or subprocess.run(["git", "-C", str(ROOT), "merge-base", "main", "HEAD"], check=True,
                                     capture_output=True, text=True).stdout.strip()
    results: dict = {"old_commit": old, "new_commit": subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "figures": {}}
    with tempfile.TemporaryDirectory(prefix="cm-old-") as tmp:
        old_tree = unpack(old, Path(tmp))
        for name in [*MEASURES, "analyze_missing_camera"]:
            for label, tree in (("old", old_tree), ("new", ROOT)):
                load = Path("/proc/loadavg").read_text().split()[:3]
                if name == "analyze_missing_camera":
                    figure = measure_analyze_missing_camera(tree)
                else:
                    figure = run_in(tree, name)
                figure["loadavg"] = " ".join(load)
                results["figures"].setdefault(name, {})[label] = figure
                print(f"{name:24s} {label}: {json.dumps(figure)}", flush=True)
    if args.json_out:
        write_json(args.json_out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
