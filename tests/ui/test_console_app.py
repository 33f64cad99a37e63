"""``run_console`` and the ``crowdmood`` command: --exit-after and --stats-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from crowdmood_gui.cli import main
from crowdmood_gui.core.config import DEMO_VIDEO
from crowdmood_gui.ui.app import _ExceptHook, config_overrides, run_console

ROOT = Path(__file__).parents[2]
DEMO = DEMO_VIDEO
KEYS = {"display_fps", "detection_fps", "latency_p50_ms", "latency_p95_ms", "records_analysed", "peak_rss_mb"}


def args(**kw):
    base = dict(config=None, source=None, backend=None, no_loop=False, exit_after=None, stats_out=None, session=None)
    base.update(kw)
    return Namespace(**base)


def test_flags_become_config_overrides():
    assert config_overrides(args(source="0", backend="aws", no_loop=True, session="expo")) == {
        "source": {"spec": "0", "loop": False},
        "backend": "aws",
        "session": "expo",
    }
    assert config_overrides(args()) == {}


def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "config.toml"
    bad.write_text("[detection]\nmax_sid = 3\n")
    assert main(["--config", str(bad), "--exit-after", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "detection.max_sid" in err


@pytest.mark.slow
def test_run_console_exit_after_writes_the_stats(qapp, tmp_path):
    out = tmp_path / "stats.json"
    code = run_console(args(source=str(DEMO), exit_after=3, stats_out=out))
    assert code == 0
    stats = json.loads(out.read_text())
    assert KEYS <= set(stats)
    assert stats["display_fps"] > 10
    assert stats["detection_fps"] > 1
    assert 0 <= stats["latency_p50_ms"] <= stats["latency_p95_ms"] < 1000
    assert stats["peak_rss_mb"] > 50
    assert not isinstance(sys.excepthook, _ExceptHook)  # restored on exit


@pytest.mark.slow
def test_the_crowdmood_command_runs_and_exits_cleanly(tmp_path):
    out = tmp_path / "stats.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CROWDMOOD_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [sys.executable, "-m", "crowdmood_gui", "--source", str(DEMO), "--exit-after", "3", "--stats-out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(out.read_text())
    # the demo plays at 15 fps: more than 1 s of it shown in a 3-s run (start-up included)
    assert KEYS <= set(stats) and stats["frames_painted"] > 15
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_drops_and_reconnects_are_written_to_the_console_log(tmp_path):
    """Started from the desktop there is no terminal: the data folder keeps a log file."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tmp_path / "home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CROWDMOOD_HOME=str(home))
    proc = subprocess.run(
        [sys.executable, "-m", "crowdmood_gui", "--source", f"http://127.0.0.1:{port}/video", "--exit-after", "4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = (home / "console.log").read_text(encoding="utf-8")
    assert f"could not connect to http://127.0.0.1:{port}/video: connection refused" in written
    assert "attempt 1 failed, retrying in" in written
