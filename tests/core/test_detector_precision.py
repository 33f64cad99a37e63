"""The int8 face detector (README "A cheaper forward pass"): it finds what the fp32 one finds
on real faces and on a crowd grid, ``detection.precision`` picks the model, and a missing or
corrupt int8 file is one clear error that names the way back to fp32."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from crowd_grid import Grid, match_counts, read_clip, reference_boxes
from crowdmood_gui.core import detection
from crowdmood_gui.core.config import AppConfig, DetectionConfig, load_config
from crowdmood_gui.core.crowd_detection import CrowdDetector
from crowdmood_gui.core.detection import DEFAULT_MODEL, INT8_MODEL, FaceDetector
from crowdmood_gui.core.errors import ModelError
from crowdmood_gui.core.tracking import FaceTracker, iou_matrix

FPS = 30.0


@pytest.fixture(scope="module")
def int8() -> FaceDetector:
    return FaceDetector(threads=2, precision="int8")


@pytest.fixture(scope="module")
def fp32() -> FaceDetector:
    return FaceDetector(threads=2, precision="fp32")


@pytest.fixture(scope="module")
def clip():
    frames = read_clip()
    return frames, reference_boxes(frames)


def _boxes(found) -> np.ndarray:
    return np.array([[d.x1, d.y1, d.x2, d.y2] for d in found], dtype=np.float64).reshape(-1, 4)


def test_the_int8_model_is_a_different_file_built_from_the_bundled_fp32_one(int8):
    assert int8.model_path == INT8_MODEL != DEFAULT_MODEL
    assert INT8_MODEL.stat().st_size < 0.5 * DEFAULT_MODEL.stat().st_size  # int8 weights
    # quantize_detector.py records the fp32 file it quantised: this very one.
    source = int8._session.get_modelmeta().custom_metadata_map["source"]
    assert source == f"face_detector.onnx sha256 {hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()}"


@pytest.mark.parametrize("name, faces", [("single_face.jpg", 1), ("multi_face.jpg", 5)])
def test_int8_finds_the_faces_fp32_finds_in_the_same_places(int8, fp32, data_dir, name, faces):
    image = cv2.imread(str(data_dir / name))
    reference, quantised = fp32.detect(image), int8.detect(image)
    assert len(reference) == faces and len(quantised) == faces
    iou = iou_matrix(_boxes(reference), _boxes(quantised))
    assert (iou.max(axis=1) >= 0.8).all(), iou.max(axis=1)
    assert all(d.score > 0.9 for d in quantised) and all(len(d.landmarks) == 5 for d in quantised)


def test_int8_on_the_crowd_grid_recall_false_positives_and_identity(int8, clip):
    # The case (test_crowd_detection.py runs it with fp32): 1080p, 16x16 cells,
    # faces ~28 px wide, the whole analysis path (tiles + tracker), two sweeps.
    grid = Grid(*clip, n=16, width=1920, height=1080)
    people = grid.n**2
    crowd = CrowdDetector(int8, DetectionConfig(precision="int8"), realtime=False)
    tracker = FaceTracker()
    sweep_frames = 24
    ids_by_cell: dict[int, set[int]] = {}
    for index in range(2 * sweep_frames):
        image, truth = grid.frame(index)
        detections, report = crowd.detect(image, index / FPS, tracker.active_tracks)
        visible = tracker.update(detections, index / FPS, covered=report.coverage)
        found, false, which = match_counts([v.box for v in visible], truth)
        # fp32's own test allows 2 %: a box predicted between sweeps may lag a moving face
        assert false <= 0.01 * people, index
        if index >= sweep_frames:
            assert found >= 0.99 * people, (index, found)
        for track, cell in zip(visible, which):
            if cell >= 0:
                ids_by_cell.setdefault(cell, set()).add(track.id)
    assert tracker.total_tracks <= 1.02 * people
    assert sum(len(ids) > 1 for ids in ids_by_cell.values()) <= 2


    assert tracker.total_tracks <= 1.05 * 256


def test_precision_switch_picks_the_model(tmp_path):
    assert AppConfig().detection.precision == DetectionConfig().precision
    for precision, path in (("fp32", DEFAULT_MODEL), ("int8", INT8_MODEL)):
        assert FaceDetector.from_config(DetectionConfig(precision=precision, threads=1)).model_path == path
    toml = tmp_path / "config.toml"
    toml.write_text('[detection]\nprecision = "fp32"\n')
    assert load_config(toml).detection.precision == "fp32"
    with pytest.raises(ValueError):
        DetectionConfig(precision="int4")
    with pytest.raises(ModelError, match="Unknown face detector precision 'int4'"):
        FaceDetector(precision="int4")


def test_an_explicit_model_path_wins_over_the_precision():
    assert FaceDetector(DEFAULT_MODEL, precision="int8", threads=1).model_path == DEFAULT_MODEL


def test_missing_int8_model_is_one_clear_error_naming_the_fp32_switch(tmp_path, monkeypatch):
    monkeypatch.setitem(detection.MODELS_BY_PRECISION, "int8", tmp_path / "face_detector_int8.onnx")
    with pytest.raises(ModelError) as caught:
        FaceDetector(precision="int8")
    message = str(caught.value)
    assert "face detector (int8) model file is missing" in message and "\n" not in message
    assert 'precision = "fp32"' in message


def test_corrupt_int8_model_is_one_clear_error_naming_the_fp32_switch(tmp_path, monkeypatch):
    bad = tmp_path / "face_detector_int8.onnx"
    bad.write_bytes(INT8_MODEL.read_bytes()[:5000])  # a truncated copy
    monkeypatch.setitem(detection.MODELS_BY_PRECISION, "int8", bad)
    with pytest.raises(ModelError) as caught:
        FaceDetector(precision="int8")
    message = str(caught.value)
    assert "cannot be loaded" in message and 'precision = "fp32"' in message and "\n" not in message
