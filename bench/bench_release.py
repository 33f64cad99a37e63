"""Release figures, measured as a user meets them (whole processes, wall clock):

* the wheel's and the sdist's size (``python -m build``);
* ``pip install`` of the wheel into a fresh venv plus the first ``crowdmood analyze`` of an
  image, from an empty folder: with pip's cache as it is (warm after a developer's install)
  and, with ``--cold``, with ``--no-cache-dir`` (every dependency downloaded from the registry);
* the PyInstaller one-folder app (``./dev bundle`` first): its size on disk and as .tar.gz, and
  process start -> first frame of the console (offscreen, bundled demo), beside the same
  figure for ``python -m crowdmood_gui`` from the developer's venv, runs interleaved.

    python bench/bench_release.py [--cold] [--runs 3] [--bundle dist/crowdmood] [--out bench/results/release.json]

Run it on a quiet machine: the load average is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ROOT, code_version, cpu_model  # noqa: E402

IMAGE = ROOT / "tests" / "data" / "single_face.jpg"


def load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def size_mb(path: Path) -> float:
    if path.is_file():
        return round(path.stat().st_size / 1e6, 2)
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6, 1)


def build(out: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def install_and_analyse(wheel: Path, work: Path, *, cold: bool) -> dict:
    venv, run = work / "venv", work / "run"
    run.mkdir(parents=True)
    env = {**os.environ, "HOME": str(work / "home")}
    env.pop("CROWDMOOD_HOME", None)
    before = load()
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"] + (["--no-cache-dir"] if cold else [])
    # pip keeps its cache under the real HOME: same cache state as the developer's.
    subprocess.run(pip + [str(wheel)], check=True, stderr=subprocess.DEVNULL)
    t1 = time.monotonic()
    out = subprocess.run([str(venv / "bin" / "crowdmood"), "analyze", str(IMAGE), "--format", "json"],
                         cwd=run, env=env, capture_output=True, text=True, check=True)
    t2 = time.monotonic()
    faces = len(json.loads(out.stdout.splitlines()[0])["FaceDetails"])
    return {"pip_cache": "none (--no-cache-dir)" if cold else "warm (the developer's ~/.cache/pip)",
            "install_s": round(t1 - t0, 1), "first_analysis_s": round(t2 - t1, 2),
            "total_s": round(t2 - t0, 1), "faces_found": faces, "load_before": before, "load_after": load()}


def first_frame(cmd: list[str], work: Path) -> float:
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    stats = work / "stats.json"
    stats.unlink(missing_ok=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run(cmd + ["--backend", "local", "--exit-after", "4", "--stats-out", str(stats)], cwd=work, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return float(json.loads(stats.read_text())["start_to_first_frame_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="also install with --no-cache-dir (downloads every dependency)")
    parser.add_argument("--runs", type=int, default=3, help="console starts per variant")
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "crowdmood")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "release.json")
    args = parser.parse_args()

    result: dict = {"code": code_version(), "cpu": cpu_model(), "cores": os.cpu_count(),
                    "python": sys.version.split()[0], "load_at_start": load()}
    with tempfile.TemporaryDirectory(prefix="crowdmood-bench-release-") as tmp:
        tmp = Path(tmp)
        wheel, sdist = build(tmp / "dist")
        result["wheel"] = {"file": wheel.name, "mb": size_mb(wheel)}
        result["sdist"] = {"file": sdist.name, "mb": size_mb(sdist)}
        print(f"wheel {result['wheel']['mb']} MB, sdist {result['sdist']['mb']} MB", flush=True)
        result["install"] = [install_and_analyse(wheel, tmp / "warm", cold=False)]
        if args.cold:
            result["install"].append(install_and_analyse(wheel, tmp / "cold", cold=True))
        for row in result["install"]:
            print(f"install + first analysis ({row['pip_cache']}): {row['install_s']} s + {row['first_analysis_s']} s "
                  f"= {row['total_s']} s, load {row['load_before']} -> {row['load_after']}", flush=True)
        shutil.rmtree(tmp / "warm", ignore_errors=True)

        if (args.bundle / "crowdmood").is_file():
            archive = tmp / "crowdmood.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(args.bundle, arcname="crowdmood")
            venv_python = ROOT / ".venv" / "bin" / "python"
            variants = {"bundle": [str(args.bundle / "crowdmood")],
                        "venv (python -m crowdmood_gui)": [str(venv_python), "-m", "crowdmood_gui"]}
            times: dict[str, list[float]] = {name: [] for name in variants}
            before = load()
            for _ in range(args.runs):  # interleaved, so both see the same load
                for name, cmd in variants.items():
                    times[name].append(first_frame(cmd, tmp / "console"))
            result["bundle"] = {
                "folder": str(args.bundle.relative_to(ROOT)) if args.bundle.is_relative_to(ROOT) else str(args.bundle),
                "size_mb": size_mb(args.bundle), "tar_gz_mb": size_mb(archive),
                "start_to_first_frame_s": {name: {"median": round(statistics.median(v), 2), "runs": v}
                                           for name, v in times.items()},
                "input": "the bundled demo video, offscreen, --exit-after 4",
                "load_before": before, "load_after": load()}
            b = result["bundle"]
            print(f"bundle {b['size_mb']} MB on disk, {b['tar_gz_mb']} MB as .tar.gz; start -> first frame: "
                  + ", ".join(f"{k} {v['median']} s" for k, v in b["start_to_first_frame_s"].items())
                  + f"; load {b['load_before']} -> {b['load_after']}", flush=True)
        else:
            print(f"no bundle in {args.bundle}: run ./dev bundle first", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
