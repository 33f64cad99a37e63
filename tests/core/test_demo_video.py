"""The bundled crowd demo (crowdmood_gui/resources/demo/demo.mp4) and the script that builds it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import pytest

from crowdmood_gui.core.capture import read_video_frames
from crowdmood_gui.core.config import DEMO_VIDEO
from crowdmood_gui.core.detection import FaceDetector

BUILD_SCRIPT = Path(__file__).parents[2] / "crowdmood_gui" / "resources" / "demo" / "build_demo.py"


def _frames(path: Path) -> list:
    return read_video_frames(path)


def _build_demo_module():
    spec = importlib.util.spec_from_file_location("build_demo", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_demo"] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_bundled_demo_is_a_small_720p_loop():
    cap = cv2.VideoCapture(str(DEMO_VIDEO))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1280, 720)
    assert cap.get(cv2.CAP_PROP_FPS) == 15
    assert 20.0 <= cap.get(cv2.CAP_PROP_FRAME_COUNT) / 15 <= 30.0
    cap.release()
    assert DEMO_VIDEO.stat().st_size < 3.5e6  # it ships in the wheel


@pytest.mark.slow
def test_bundled_demo_shows_far_and_near_faces_and_someone_entering_and_leaving():
    frames = _frames(DEMO_VIDEO)
    detector = FaceDetector(max_side=1280, threads=1)
    # t = 0 s, 6 s (the person who came in at 2.5 s is there), 14 s (gone again)
    widths = {t: sorted(d.width for d in detector.detect(frames[t * 15])) for t in (0, 6, 14)}
    start = widths[0]
    assert len(start) >= 15
    assert sum(w < 40 for w in start) >= 5  # far faces (the old 40 px sampling gate dropped them)
    assert max(start) > 100  # and a near one
    near = {t: sum(w > 80 for w in ws) for t, ws in widths.items()}
    assert near == {0: 1, 6: 2, 14: 1}
    # it loops without a jump: the last frame is one step before the first
    assert cv2.absdiff(frames[-1], frames[0]).mean() < 4.0


def test_build_script_writes_the_scene_from_test_media_only(tmp_path):
    build_demo = _build_demo_module()
    out = tmp_path / "demo.mp4"
    assert build_demo.main(["--out", str(out), "--frames", "20"]) == 0
    frames = _frames(out)
    assert len(frames) == 10  # every other frame of the 30 fps scene: 15 fps
    assert frames[0].shape == (720, 1280, 3)
    bundled_first = _frames_first(DEMO_VIDEO)
    assert cv2.absdiff(frames[0], bundled_first).mean() < 1.0  # the bundled demo is this script's output


def _frames_first(path: Path):
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame
