"""Nothing lost on a bad day (issue #14): a full disk during ``analyze --session``, with and
without video, at session start; a damaged or read-only session; outputs that cannot be
written; console flags that are wrong. Each gives one line (exit 2) and loses nothing."""

from __future__ import annotations

import csv
import errno
import os
import re
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from crowdmood_gui.cli import main
from crowdmood_gui.core.config import AppConfig, load_config
from crowdmood_gui.core.errors import StorageError
from crowdmood_gui.core.sessions import Session, acquire_lock, create_session, list_sessions, mark_ended


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("crowdmood: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _mount_tmpfs(mount: Path, size: str) -> None:
    mount.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """CROWDMOOD_HOME on a 400 kB tmpfs: the session's disk fills while recording."""
    mount = tmp_path / "small-disk"
    _mount_tmpfs(mount, "400k")
    monkeypatch.setenv("CROWDMOOD_HOME", str(mount / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a spill may go: not /tmp
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_disk_full_while_recording_video_still_writes_every_csv(data_dir, tmp_path, small_disk, capsys):
    out, faces = tmp_path / "timeline.csv", tmp_path / "faces.csv"
    code = main(["analyze", str(data_dir / "single_face.mp4"), "--session", "full", "--record-video",
                 "--out", str(out), "--faces-out", str(faces)])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert "incomplete" in line and str(out) in line
    rows = list(csv.reader(out.open()))
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]  # the whole 2.4-s video
    assert len(list(csv.reader(faces.open()))) == 3  # header + both analysed faces


@pytest.mark.slow
def test_disk_full_without_video_reaches_out_says_where_the_rest_is_and_merges_back(
        data_dir, tmp_path, capsys, monkeypatch):
    from crowdmood_gui.core.store import SessionStore

    real_flush = SessionStore.flush

    def disk_full(self):
        if self.path is not None and self._pending_records:  # once results arrive
            raise StorageError(f"the disk holding {self.path} is full: free some space")
        return real_flush(self)

    out = tmp_path / "timeline.csv"
    monkeypatch.setattr(SessionStore, "flush", disk_full)
    code = main(["analyze", str(data_dir / "single_face.mp4"), "--session", "nospace", "--out", str(out)])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2  # not 0 with the session silently incomplete
    assert len(list(csv.reader(out.open()))) == 4  # every result reached --out
    spill = Path(re.search(r"written to (\S+\.jsonl);", line).group(1))
    assert "crowdmood sessions recover" in line and str(out) in line
    assert stat.S_IMODE(spill.stat().st_mode) == 0o600 and spill.parent != Path("/tmp")

    monkeypatch.setattr(SessionStore, "flush", real_flush)  # space again
    assert main(["sessions", "recover", str(spill)]) == 0
    (info,) = list_sessions(AppConfig())
    assert info.records == 2 and not spill.exists()


def test_no_space_at_session_start_is_one_line_not_a_traceback(monkeypatch):
    from pathlib import Path as _Path

    session = create_session(load_config(), "start", lock=False)
    real = _Path.write_text

    def enospc(self, *args, **kwargs):
        if self.name.endswith(".tmp") and "recording" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_Path, "write_text", enospc)
    with pytest.raises(StorageError, match="No space left on device.*free some space"):
        acquire_lock(session)
    assert not list(session.path.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["zero-bytes", "garbage", "truncated"])
def test_a_damaged_session_is_listed_as_damaged(damage, capsys):
    config = load_config()
    session = create_session(config, "broken")
    mark_ended(session)
    good = create_session(config, "fine")
    mark_ended(good)
    data = session.db_path.read_bytes()
    session.db_path.write_bytes({"zero-bytes": b"", "garbage": b"not a database " * 200,
                                 "truncated": data[:100]}[damage])
    infos = {i.id: i for i in list_sessions(config)}
    assert infos[session.id].damaged and infos[good.id].damaged is None
    assert main(["sessions", "list"]) == 0
    captured = capsys.readouterr()
    assert "damaged" in next(line for line in captured.out.splitlines() if line.startswith(session.id))
    assert f"session {session.id} is damaged" in captured.err
    # Not silently re-created empty by an export either.
    size = session.db_path.stat().st_size
    assert main(["export", session.id, "--out", str(session.path.parent / "x")]) == 2
    assert session.db_path.stat().st_size == size
    assert "damaged" in _one_error_line(capsys.readouterr().err)


def test_export_of_a_read_only_session_works(tmp_path):
    """A session on a read-only file system (a USB stick mounted ro, a write-protected copy)."""
    import shutil

    from crowdmood_gui.core.export import export_session

    config = load_config()
    session = create_session(config, "read only")
    mark_ended(session)
    medium = tmp_path / "medium"
    _mount_tmpfs(medium, "2m")
    try:
        shutil.copytree(session.path, medium / session.id)
        subprocess.run(["mount", "-o", "remount,ro", str(medium)], check=True, capture_output=True)
        copy = Session(session.id, medium / session.id)
        written = export_session(copy, tmp_path / "out")
        assert sorted(written) == ["chart.png", "faces.csv", "summary.html", "timeline.csv"]
        assert "read only" in written["summary.html"].read_text()
    finally:
        subprocess.run(["umount", "-l", str(medium)], check=False)


@pytest.mark.parametrize("where", ["existing-file", "/proc"])
def test_export_out_that_cannot_be_a_folder_is_one_line(tmp_path, capsys, where):
    config = load_config()
    session = create_session(config, "exp")
    mark_ended(session)
    if where == "existing-file":
        target = tmp_path / "report.pdf"
        target.write_text("keep me")
    else:
        target = Path("/proc")
    assert main(["export", session.id, "--out", str(target)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(target) in line
    if where == "existing-file":
        assert target.read_text() == "keep me"


@pytest.mark.parametrize("argv, expected", [
    (["--exit-after", "inf"], "seconds"),
    (["--exit-after", "nan"], "seconds"),
    (["--exit-after", "-1"], "seconds"),
    (["--source", "http://[::1"], "invalid URL"),
    (["--source", "/no/such/video.mp4"], "no such video file"),
    (["--config", "/no/such/config.toml"], "no such configuration file"),
    (["analyze", "x.mp4", "--config", "/no/such/config.toml"], "no such configuration file"),
    (["--stats-out", "/proc/stats.json", "--exit-after", "1"], "cannot write /proc/stats.json"),
])
def test_console_flags_that_are_wrong_exit_2_with_one_line(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse's own errors exit through SystemExit
        raise SystemExit(main(argv))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_relative_source_is_remembered_as_an_absolute_path(data_dir, monkeypatch):
    from crowdmood_gui.ui.app import config_overrides

    monkeypatch.chdir(data_dir)

    class Args:
        source = "single_face.mp4"

    assert config_overrides(Args())["source"]["spec"] == str(data_dir / "single_face.mp4")


@pytest.mark.slow
def test_a_source_that_fails_in_the_console_exits_2_and_is_logged(data_dir, tmp_path):
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "crowdmood_gui", "--source", str(data_dir / "corrupt.mp4"),
                           "--exit-after", "4"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "ERROR crowdmood_gui.ui.app: source failed:" in proc.stderr  # the log line
    assert "crowdmood: error:" in proc.stderr and "corrupt" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_analyze_a_stream_url_until_ctrl_c_keeps_the_results_and_never_echoes_the_password(data_dir, tmp_path):
    import signal
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).parent))
    from mjpeg_server import MjpegServer, jpeg_frames_from_video

    out = tmp_path / "stream.csv"
    with MjpegServer(jpeg_frames_from_video(data_dir / "single_face.mp4"), fps=15) as cam:
        url = cam.url.replace("http://", "http://op:Pa55w0rd@") + "?pwd=Pa55w0rd"
        proc = subprocess.Popen([sys.executable, "-m", "crowdmood_gui", "analyze", url, "--out", str(out),
                                 "--session", "stream", "--progress", "always"],
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        time.sleep(8)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Pa55w0rd" not in err and "op:***@127.0.0.1" in err  # the progress line names it masked
    assert "written to" in err and len(list(csv.reader(out.open()))) >= 3
    assert "Traceback" not in err
    (info,) = list_sessions(AppConfig())
    assert info.source == redact(url) and not info.recording
    assert info.ended is not None  # Ctrl-C ends the session: ended_at written, lock released


def redact(url: str) -> str:
    from crowdmood_gui.core.secrets import redact_url

    return redact_url(url)
