"""The headless booth agent's figures (issue #16's targets), beside the console's.

    python bench/bench_agent.py [--seconds 30] [--no-console] [--json-out FILE]

Sources (built with OpenCV in a temp dir, nothing downloaded):
- ``640x360``: ``resources/demo/demo.mp4`` (640x360, 30 fps, 72 frames), looped;
- ``1080p crowd``: the demo tiled 3x3 into 1920x1080 (nine faces per frame, 72 frames),
  looped.

Runs, one at a time, each with its own empty ``CROWDMOOD_HOME`` (an empty spool, so the
first upload is a fresh crop):
- ``agent aws``: ``crowdmood agent --backend aws`` against moto server on 127.0.0.1 (a
  subprocess of this script: its CPU is not the agent's), detection capped at the agent's
  default 10 Hz; ``agent aws 30Hz`` (640x360 only): the same with ``--detect-hz 0`` (every
  frame, as the console and the agent before the cap);
- ``agent local``: ``crowdmood agent --backend local`` (the local expression model);
- ``console local`` (640x360 only; ``--no-console`` skips it): the console
  (``python -m crowdmood_gui --backend local``) under ``QT_QPA_PLATFORM=offscreen``: the old
  way a booth ran, a window on a laptop (offscreen paints into memory, not an X server).

Figures: the process's own ``--stats-out`` (CPU cores = its CPU time over its wall time,
peak RSS = ru_maxrss, frames/s analysed, process start -> first crop in S3) and an RSS
cross-check sampled with psutil every 0.25 s. The load average is recorded beside each
run; never asserts (shared, noisy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, code_version, cpu_model, loadavg, read_frames, write_json, write_video  # noqa: E402
from crowdmood_gui.core.resources import DEMO_VIDEO  # noqa: E402

DEMO = DEMO_VIDEO
BUCKET = "crowdmood-bench-agent"


def crowd_1080p(path: Path) -> Path:
    tiles = (cv2.resize(frame, (640, 360)) for frame in read_frames(DEMO))
    return write_video(path, (np.vstack([np.hstack([tile] * 3)] * 3) for tile in tiles), 30.0)  # 1920x1080


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    import boto3

    boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="bench",
                 aws_secret_access_key="bench").create_bucket(Bucket=BUCKET)
    return server, endpoint


def run(kind: str, source: Path, seconds: float, endpoint: str, workdir: Path, extra: tuple[str, ...] = ()) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"home-{kind.replace(' ', '-')}-", dir=workdir))
    stats = home / "stats.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CROWDMOOD_"))}
    env.update(CROWDMOOD_HOME=str(home), AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench",
               AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1", QT_QPA_PLATFORM="offscreen")
    if kind == "console local":
        argv = [sys.executable, "-m", "crowdmood_gui", "--source", str(source), "--backend", "local"]
    else:
        argv = [sys.executable, "-m", "crowdmood_gui", "agent", "--source", str(source), "--camera", "bench",
                "--backend", kind.split()[1], "--bucket", BUCKET, *extra]
    argv += ["--exit-after", str(seconds), "--stats-out", str(stats)]
    load_before = loadavg()
    started = time.monotonic()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak_rss = 0
    proc = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            peak_rss = max(peak_rss, proc.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.25)
    err = child.stderr.read()
    wall = time.monotonic() - started
    if child.returncode != 0 or not stats.exists():
        raise SystemExit(f"{kind} on {source.name} failed ({child.returncode}): {err.strip()[-400:]}")
    figures = json.loads(stats.read_text())
    return {
        "run": kind,
        "source": source.name,
        "cpu_cores": figures.get("cpu_cores"),
        "peak_rss_mb": figures.get("peak_rss_mb"),
        "peak_rss_mb_sampled": round(peak_rss / 2**20, 1),
        "fps_analysed": figures.get("fps") if "fps" in figures else figures.get("detection_fps"),
        "start_to_first_upload_s": figures.get("start_to_first_upload_s"),
        "crops_uploaded": figures.get("crops_uploaded"),
        "records": figures.get("records", figures.get("records_analysed")),
        "qt_modules": len(figures["qt_modules"]) if "qt_modules" in figures else None,
        "wall_s": round(wall, 1),
        "load_before": load_before,
        "load_after": loadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-console", action="store_true", help="skip the console run (the old way)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        workdir = Path(tmp)
        crowd = crowd_1080p(workdir / "crowd-1080p.mp4")
        server, endpoint = start_moto()
        rows = []
        try:
            plan = [("agent aws", DEMO, ()), ("agent aws 30Hz", DEMO, ("--detect-hz", "0")), ("agent local", DEMO, ())]
            if not args.no_console:
                plan.append(("console local", DEMO, ()))
            plan += [("agent aws", crowd, ()), ("agent local", crowd, ())]
            for kind, source, extra in plan:
                row = run(kind, source, args.seconds, endpoint, workdir, extra)
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            server.terminate()
            server.wait(10)
    print()
    print(f"{'run':<14} {'source':<16} {'cores':>5} {'RSS MB':>7} {'sampled':>7} {'fps':>6} {'1st up s':>8} {'crops':>5}  load")
    for r in rows:
        print(f"{r['run']:<14} {r['source']:<16} {r['cpu_cores']!s:>5} {r['peak_rss_mb']!s:>7} {r['peak_rss_mb_sampled']!s:>7} "
              f"{r['fps_analysed']!s:>6} {r['start_to_first_upload_s']!s:>8} {r['crops_uploaded']!s:>5}  {r['load_before']} -> {r['load_after']}")
    if args.json_out:
        write_json(args.json_out, {
            "code": code_version(), "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "seconds_per_run": args.seconds, "runs": rows,
            "targets": {"cpu_cores_640x360": 0.5, "peak_rss_mb": 200, "start_to_first_upload_s": 5.0},
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
