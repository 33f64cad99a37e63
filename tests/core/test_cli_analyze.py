"""``crowdmood analyze`` as a user runs it: exit codes, files, one-line errors."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crowdmood_gui.cli import main
from crowdmood_gui.core.emotions import EMOTIONS

pytestmark = pytest.mark.slow


def test_video_to_timeline_and_faces_csv(data_dir, tmp_path, capsys):
    out, faces = tmp_path / "timeline.csv", tmp_path / "faces.csv"
    code = main(["analyze", str(data_dir / "single_face.mp4"), "--out", str(out), "--faces-out", str(faces)])
    assert code == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["t", "faces", "people", "rated", "crops", *EMOTIONS, *(f"share_{k}" for k in EMOTIONS)]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert all(r[1] == "1" and r[2] == "1" for r in rows[1:])
    # The crowd value: the one person's estimate, held every second after their first crop.
    assert all(r[3] == "1" for r in rows[1:]) and all(r[5] != "" for r in rows[1:])
    happy = float(rows[1][5])
    assert 0.0 <= happy <= 100.0
    shares = [float(v) for v in rows[1][5 + len(EMOTIONS):]]
    assert sum(shares) == pytest.approx(100.0)  # one person, one dominant expression
    face_rows = list(csv.DictReader(faces.open()))
    assert len(face_rows) == 2 and {r["track_id"] for r in face_rows} == {"1"}
    assert abs(sum(float(face_rows[0][k]) for k in EMOTIONS) - 100.0) < 1.0


def test_period_ten_and_stdout(data_dir, capsys):
    assert main(["analyze", str(data_dir / "single_face.mp4"), "--period", "10"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("t,faces,people,rated,crops,HAPPY") and len(lines) == 2


def test_images_as_rekognition_json(data_dir, capsys):
    images = [data_dir / n for n in ("0-f15-hao-ph.jpg", "multi_face.jpg")]
    assert main(["analyze", *map(str, images), "--format", "json"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["path"] for d in docs] == [str(p) for p in images]
    happy = docs[0]["FaceDetails"]
    assert len(happy) == 1 and happy[0]["Emotions"][0]["Type"] == "HAPPY"
    box = happy[0]["BoundingBox"]
    assert 0 < box["Width"] <= 1 and 0 <= box["Left"] < 1
    assert len(docs[1]["FaceDetails"]) >= 5


def test_expression_model_flag_and_config_choose_the_model(data_dir, tmp_path, capsys):
    angry = str(data_dir / "15-f13-anc-ph.jpg")

    def dominant(*extra):
        assert main(["analyze", angry, "--format", "json", *extra]) == 0
        (doc,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        return doc["FaceDetails"][0]["Emotions"][0]["Type"]

    # face-api.js reads this portrait SAD, fer and the default ensemble ANGRY
    assert dominant("--expression-model", "faceapi") == "SAD"
    assert dominant("--expression-model", "fer") == "ANGRY"
    assert dominant() == "ANGRY"
    config = tmp_path / "c.toml"
    config.write_text('[expression]\nmodel = "faceapi"\n')
    assert dominant("--config", str(config)) == "SAD"
    assert dominant("--config", str(config), "--expression-model", "ensemble") == "ANGRY"


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: d / "missing.mp4", "not found"),
        (lambda d: d, "directory"),
        (lambda d: (d / "empty.mp4").write_bytes(b"") and d / "empty.mp4" or d / "empty.mp4", "empty"),
        (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", ""),
    ],
    ids=["missing", "directory", "zero-byte", "text-as-video"],
)
def test_bad_video_input_is_one_line_and_exit_2(tmp_path, capsys, make, expected):
    path = make(tmp_path)
    code = main(["analyze", str(path), "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("crowdmood: error:") and err.count("\n") == 1
    assert expected in err.lower()
    assert "Traceback" not in err


def test_bad_images_are_reported_and_good_ones_still_analysed(data_dir, tmp_path, capsys):
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    code = main(["analyze", str(fake), str(data_dir / "single_face.jpg"), str(empty), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 2
    assert len(captured.out.splitlines()) == 1  # the good image
    assert "fake.jpg: not an image" in captured.err and "empty.png: the file is empty" in captured.err


def test_truncated_video_keeps_what_was_analysed(data_dir, tmp_path):
    # truncated.avi: the header announces 48 frames, 25 decode (see tests/data/SOURCES.md).
    out = tmp_path / "t.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "crowdmood_gui", "analyze", str(data_dir / "truncated.avi"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], "exactly one line on stderr"
    assert "truncated" in proc.stderr and "kept" in proc.stderr
    rows = out.read_text().splitlines()
    assert rows[0].startswith("t,faces,people") and len(rows) == 2  # 25 frames at 30 fps: t=0 only


def test_unopenable_truncated_mp4_is_one_clean_line(data_dir, tmp_path):
    broken = tmp_path / "cut.mp4"
    data = (data_dir / "single_face.mp4").read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # the index (moov) is lost with the tail
    proc = subprocess.run(
        [sys.executable, "-m", "crowdmood_gui", "analyze", str(broken)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"crowdmood: error: {broken} is corrupt or truncated: the video container cannot be read\n"


def test_console_script_entry_point_runs(tmp_path):
    exe = shutil.which("crowdmood") or str(Path(sys.executable).with_name("crowdmood"))
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("crowdmood ")


def test_analyze_records_a_session_with_video(data_dir, tmp_path):
    from crowdmood_gui.core.config import AppConfig
    from crowdmood_gui.core.recording import VideoIndex
    from crowdmood_gui.core.sessions import list_sessions

    code = main(["analyze", str(data_dir / "single_face.mp4"), "--session", "Expo Monday",
                 "--record-video", "--out", str(tmp_path / "t.csv")])
    assert code == 0
    (info,) = list_sessions(AppConfig())
    assert info.name == "Expo Monday" and info.records == 2 and info.has_video and not info.recording
    index = VideoIndex(info.path)
    # 72 frames at 30 fps, recorded at most 15 fps: every other frame, boxes included.
    assert 30 <= len(index) <= 40
    assert index.duration_s == pytest.approx(2.4, abs=0.2)


@pytest.mark.parametrize("target", ["dir", "under-a-file"])
def test_unwritable_output_fails_before_analysing(data_dir, tmp_path, capsys, target, monkeypatch):
    from crowdmood_gui.core import pipeline

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out = tmp_path if target == "dir" else blocker / "t.csv"
    ran = []
    monkeypatch.setattr(pipeline.Pipeline, "run", lambda self, **kw: ran.append(1))
    code = main(["analyze", str(data_dir / "single_face.mp4"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert str(out) in err
    assert ran == []  # refused up front, not after analysing the video
