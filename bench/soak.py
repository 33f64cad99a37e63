"""Soak test of the live console: does it stay flat over a long run?

    python bench/soak.py [--minutes 30] [--video PATH] [--interval 10] [--platform xvfb|offscreen]
                         [--json-out FILE]

Runs ``python -m crowdmood_gui --source <video> --exit-after <minutes*60> --stats-out F``
(the video loops, the default is tests/data/single_face.mp4, 640x360: the demo before #12) under
``xvfb-run -a -s "-screen 0 1600x900x24"`` (or ``QT_QPA_PLATFORM=offscreen``) with an
isolated ``CROWDMOOD_HOME`` temp dir, and samples the console process with psutil every
``--interval`` seconds: RSS, anonymous memory (``/proc/PID/smaps_rollup``: RSS without the
mapped library and model files, which depend on the page cache), thread count, open file
descriptors, CPU (cores, over the interval).

Prints and writes (JSON, with the sample series):
- RSS growth from minute 2 (after warm-up: models loaded, chart buffers, caches) to the
  end, in percent, using the median of the samples in minute 2 and of the last minute so
  one sample does not decide it; also the max RSS after minute 2;
- the same for anonymous memory, and the slopes after minute 16 (the live state keeps
  15 min: a run longer than that shows whether memory levels off);
- max threads and max open fds, and whether both are flat after minute 2
  (max - min <= ``--tolerance``);
- mean CPU in cores, and the app's own ``--stats-out`` figures at the end.

``--agent`` soaks the headless booth agent (``crowdmood agent --backend local``) instead.

Issue #4's target: RSS grows by less than 5 %, no thread or file leaks. This script
reports; it does not assert (shared, noisy machines).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, code_version, cpu_model, write_json  # noqa: E402
DEFAULT_SOURCE = ROOT / "tests" / "data" / "single_face.mp4"  # 640x360, 30 fps, 72 frames: the bundled demo until issue #12 made it a crowd
XVFB_SCREEN = "-screen 0 1600x900x24"


def console_command(source: Path, exit_after: float, stats_out: Path, platform_name: str,
                    agent: bool = False) -> tuple[list[str], dict]:
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "crowdmood_gui", "--source", str(source),
           "--exit-after", f"{exit_after:g}", "--stats-out", str(stats_out)]
    if agent:  # the headless booth agent, local model (no window: the platform is moot)
        cmd[3:3] = ["agent", "--camera", "soak", "--backend", "local"]
        return cmd, env
    if platform_name == "xvfb":
        cmd = ["xvfb-run", "-a", "-s", XVFB_SCREEN, *cmd]
        env.pop("QT_QPA_PLATFORM", None)
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    return cmd, env


def find_console(root: psutil.Process, timeout: float = 30.0) -> psutil.Process | None:
    """The python process running the console (xvfb-run is a shell that forks it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in [root, *root.children(recursive=True)]:
            try:
                cmdline = proc.cmdline()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if (cmdline and os.path.basename(cmdline[0]).startswith("python")
                    and cmdline[1:3] == ["-m", "crowdmood_gui"]):
                return proc
        if not root.is_running() or root.status() == psutil.STATUS_ZOMBIE:
            return None
        time.sleep(0.2)
    return None


def anonymous_mb(pid: int) -> float | None:
    """Anonymous memory (heaps, arenas, NumPy buffers; not the mapped model and library
    files) from ``/proc/PID/smaps_rollup``: the part of RSS a leak or fragmentation grows."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Anonymous:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def sample(proc: psutil.Process, t0: float, last_cpu: list[float], last_t: list[float]) -> dict | None:
    try:
        with proc.oneshot():
            rss = proc.memory_info().rss
            threads = proc.num_threads()
            fds = proc.num_fds()
            cpu = sum(proc.cpu_times()[:2])
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    now = time.monotonic()
    cores = (cpu - last_cpu[0]) / (now - last_t[0]) if now > last_t[0] else 0.0
    last_cpu[0], last_t[0] = cpu, now
    return {"t_s": round(now - t0, 1), "rss_mb": round(rss / 2**20, 1), "anon_mb": anonymous_mb(proc.pid),
            "threads": threads, "fds": fds, "cpu_cores": round(cores, 2)}


def summarise(samples: list[dict], minutes: float, tolerance: int, interval: float) -> dict:
    """Growth and flatness over the steady run: samples in the last ``interval`` before
    ``--exit-after`` may catch the window closing (threads and fds going away) and are left out."""
    total = len(samples)
    samples = [s for s in samples if s["t_s"] <= minutes * 60.0 - interval] or samples[:1]
    end_t = samples[-1]["t_s"] if samples else 0.0
    out: dict = {"samples": total, "samples_left_out_at_close": total - len(samples), "duration_s": end_t}
    base_t = 120.0
    if end_t < 240.0:  # short (trial) run: baseline at a quarter of the run instead
        base_t = end_t / 4
        out["note"] = f"run too short for the minute-2 baseline; baseline at {base_t:.0f} s"
    warm = [s for s in samples if s["t_s"] >= base_t] or samples[-1:]
    minute2 = [s["rss_mb"] for s in warm if s["t_s"] < base_t + 60.0] or [warm[0]["rss_mb"]]
    last_minute = [s["rss_mb"] for s in warm if s["t_s"] >= max(end_t - 60.0, base_t + 60.0)] or [warm[-1]["rss_mb"]]
    base, end = statistics.median(minute2), statistics.median(last_minute)
    threads = [s["threads"] for s in warm]
    fds = [s["fds"] for s in warm]
    cpu = [s["cpu_cores"] for s in samples[1:]] or [0.0]
    out.update({
        "rss_minute2_mb": round(base, 1),
        "rss_end_mb": round(end, 1),
        "rss_growth_pct": round((end - base) / base * 100, 2) if base else None,
        "rss_max_after_minute2_mb": max(s["rss_mb"] for s in warm) if warm else None,
        "rss_first_sample_mb": samples[0]["rss_mb"] if samples else None,
        "threads_max": max(threads) if threads else None,
        "threads_min_after_minute2": min(threads) if threads else None,
        "threads_flat": (max(threads) - min(threads) <= tolerance) if threads else None,
        "fds_max": max(fds) if fds else None,
        "fds_min_after_minute2": min(fds) if fds else None,
        "fds_flat": (max(fds) - min(fds) <= tolerance) if fds else None,
        "cpu_cores_mean": round(statistics.fmean(cpu), 2),
    })
    anon = [s for s in warm if s.get("anon_mb") is not None]
    if anon:  # the process's own memory, without the library and model files RSS also counts
        anon2 = [s["anon_mb"] for s in anon if s["t_s"] < base_t + 60.0] or [anon[0]["anon_mb"]]
        anon_end = [s["anon_mb"] for s in anon if s["t_s"] >= max(end_t - 60.0, base_t + 60.0)] or [anon[-1]["anon_mb"]]
        out.update({"anon_minute2_mb": round(statistics.median(anon2), 1),
                    "anon_end_mb": round(statistics.median(anon_end), 1),
                    "anon_max_after_minute2_mb": max(s["anon_mb"] for s in anon)})
        if len(anon) >= 3:
            fit = statistics.linear_regression([s["t_s"] / 60.0 for s in anon], [s["anon_mb"] for s in anon])
            out["anon_slope_mb_per_min"] = round(fit.slope, 3)
        late = [s for s in anon if s["t_s"] >= 16 * 60.0]  # past the live state's 15 min
        if len(late) >= 3:
            fit = statistics.linear_regression([s["t_s"] / 60.0 for s in late], [s["anon_mb"] for s in late])
            out["anon_slope_after_minute16_mb_per_min"] = round(fit.slope, 3)
            fit = statistics.linear_regression([s["t_s"] / 60.0 for s in late], [s["rss_mb"] for s in late])
            out["rss_slope_after_minute16_mb_per_min"] = round(fit.slope, 3)
    if len(warm) >= 3:  # is it a level or a slope? least squares over the steady part
        fit = statistics.linear_regression([s["t_s"] / 60.0 for s in warm], [s["rss_mb"] for s in warm])
        out["rss_slope_mb_per_min"] = round(fit.slope, 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--video", type=Path, default=DEFAULT_SOURCE, help="looped by the console")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--platform", choices=("xvfb", "offscreen"), default="xvfb")
    parser.add_argument("--agent", action="store_true", help="soak 'crowdmood agent --backend local' instead of the console")
    parser.add_argument("--tolerance", type=int, default=2, help="max-min spread still called flat")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--from-json", type=Path, help="re-summarise the series of an earlier run's JSON (no run)")
    args = parser.parse_args()
    if args.from_json:
        return resummarise(args.from_json, args.tolerance, args.json_out)
    if args.platform == "xvfb" and not args.agent and not shutil.which("xvfb-run"):
        parser.error("xvfb-run not found; use --platform offscreen")

    duration = args.minutes * 60.0
    with tempfile.TemporaryDirectory(prefix="crowdmood-soak-") as tmp:
        stats_out = Path(tmp) / "stats.json"
        cmd, env = console_command(args.video, duration, stats_out, args.platform, agent=args.agent)
        env["CROWDMOOD_HOME"] = str(Path(tmp) / "home")
        log_path = Path(tmp) / "console.log"
        started_at = time.strftime("%Y-%m-%d %H:%M:%S")
        measured = code_version()
        load_before = os.getloadavg()
        with open(log_path, "wb") as log:
            child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            root = psutil.Process(child.pid)
            console = find_console(root)
            if console is None:
                child.wait()
                print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
                return 1
            t0 = time.monotonic()
            last_cpu, last_t = [sum(console.cpu_times()[:2])], [t0]
            samples: list[dict] = []
            next_at = t0
            while child.poll() is None:
                s = sample(console, t0, last_cpu, last_t)
                if s is None:
                    break
                samples.append(s)
                print(f"{s['t_s']:8.1f} s  rss {s['rss_mb']:7.1f} MB  anon {s['anon_mb']} MB  threads {s['threads']:3d}  "
                      f"fds {s['fds']:3d}  cpu {s['cpu_cores']:.2f}", flush=True)
                next_at += args.interval
                while child.poll() is None and time.monotonic() < next_at:
                    time.sleep(0.2)
            code = child.wait(timeout=60)
        app_stats = json.loads(stats_out.read_text()) if stats_out.exists() else None
        log_tail = log_path.read_text(errors="replace").splitlines()[-5:]

    summary = summarise(samples, args.minutes, args.tolerance, args.interval)
    result = {
        "started": started_at,
        "code": measured,
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "platform": "agent (headless)" if args.agent else args.platform if args.platform == "offscreen" else f"xvfb-run ({XVFB_SCREEN})",
        "video": str(args.video.relative_to(ROOT) if args.video.is_relative_to(ROOT) else args.video),
        "minutes": args.minutes,
        "interval_s": args.interval,
        "exit_code": code,
        **summary,
        "target_rss_growth_lt_5pct": summary.get("rss_growth_pct") is not None and summary["rss_growth_pct"] < 5.0,
        "app_stats": app_stats,
        "console_log_tail": log_tail,
        "series": samples,
    }
    width = max(map(len, summary))
    print()
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    print(f"{'app_stats':<{width}}  {app_stats}")
    if args.json_out:
        write_json(args.json_out, result)
    return 0 if code == 0 else 1


def resummarise(path: Path, tolerance: int, json_out: Path | None) -> int:
    """Summarise a saved series again (e.g. after the summary rules changed); keeps the run's
    metadata and series, replaces the summary fields."""
    result = json.loads(path.read_text())
    summary = summarise(result["series"], result["minutes"], tolerance, result["interval_s"])
    for key in ("note", "samples_left_out_at_close"):
        result.pop(key, None)
    series = result.pop("series")
    result.update(summary)
    result["target_rss_growth_lt_5pct"] = summary.get("rss_growth_pct") is not None and summary["rss_growth_pct"] < 5.0
    result["series"] = series
    for key, value in summary.items():
        print(f"{key:<26}  {value}")
    if json_out:
        write_json(json_out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
