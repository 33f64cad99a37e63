"""The bundled RetinaFace detector on real images and video (tests/data, see SOURCES.md)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from crowdmood_gui.core.detection import Detection, FaceDetector, nms, priors
from crowdmood_gui.core.errors import ModelError


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(threads=1)


def _read(data_dir, name):
    image = cv2.imread(str(data_dir / name))
    assert image is not None, name
    return image


def _inside(point, det: Detection) -> bool:
    return det.x1 <= point[0] <= det.x2 and det.y1 <= point[1] <= det.y2


def test_single_face_one_box_around_the_face(detector, data_dir):
    image = _read(data_dir, "single_face.jpg")  # 572x562, one frontal face
    faces = detector.detect(image)
    assert len(faces) == 1
    face = faces[0]
    assert isinstance(face, Detection)
    assert face.score > 0.95
    # Verified by eye on a drawn PNG: the box spans roughly x 195-369, y 136-396.
    assert 150 < face.x1 < 240 and 320 < face.x2 < 420
    assert 90 < face.y1 < 180 and 350 < face.y2 < 450
    assert len(face.landmarks) == 5
    assert all(_inside(p, face) for p in face.landmarks)
    eye_l, eye_r, nose, mouth_l, mouth_r = face.landmarks
    assert eye_l[0] < eye_r[0] and mouth_l[0] < mouth_r[0]  # image-left first
    assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert detector.last_inference_ms is not None and detector.last_inference_ms > 0


def test_multi_face_finds_every_clearly_visible_face(detector, data_dir):
    # The group photo has 5 faces, all clearly visible (checked by eye on a drawn PNG);
    # the detector resizes it from 1000x667 to 640x427.
    image = _read(data_dir, "multi_face.jpg")
    faces = detector.detect(image)
    assert len(faces) == 5
    expected_centres = [(262, 121), (366, 297), (476, 267), (579, 372), (740, 357)]
    for cx, cy in expected_centres:
        assert any(_inside((cx, cy), f) for f in faces), (cx, cy)
    # boxes are in the original 1000x667 frame, not the resized one
    assert max(f.x2 for f in faces) > 700
    # best score first, no duplicate boxes
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


def test_no_face_video_yields_nothing(detector, data_dir):
    capture = cv2.VideoCapture(str(data_dir / "no_face.mp4"))
    assert capture.isOpened()
    checked = 0
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % 5 == 0:
                assert detector.detect(frame) == [], f"false face at frame {index}"
                checked += 1
            index += 1
    finally:
        capture.release()
    assert checked >= 15


def test_boxes_clipped_and_mapped_back_for_any_size(detector, data_dir):
    image = _read(data_dir, "single_face.jpg")
    # face against the top-left corner: the box must stay inside the frame
    corner = image[200:, 250:]
    for frame in (corner, cv2.resize(image, (301, 297)), np.ascontiguousarray(image[:, :, 0])):
        faces = detector.detect(frame)
        assert faces, frame.shape
        h, w = frame.shape[:2]
        for f in faces:
            assert 0 <= f.x1 < f.x2 <= w and 0 <= f.y1 < f.y2 <= h
            assert all(0 <= x <= w and 0 <= y <= h for x, y in f.landmarks)


def test_scale_invariance_of_coordinates(data_dir):
    image = _read(data_dir, "single_face.jpg")
    small = FaceDetector(max_side=320, threads=1).detect(image)[0]
    full = FaceDetector(max_side=640, threads=1).detect(image)[0]
    for a, b in zip((small.x1, small.y1, small.x2, small.y2), (full.x1, full.y1, full.x2, full.y2)):
        assert abs(a - b) < 20


def test_priors_match_network_output_count(detector):
    for h, w in ((360, 640), (480, 640), (427, 640), (297, 301), (100, 77)):
        blob = np.zeros((1, 3, h, w), np.float32)
        loc = detector._session.run(None, {"input": blob})[0]
        assert loc.shape[1] == priors(h, w).shape[0]


def test_nms_keeps_best_of_overlapping():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.95, 0.8], np.float32), 0.4)
    assert keep.tolist() == [1, 2]


def greedy_nms_reference(boxes, scores, threshold):
    """The textbook loop: best box kept, every box over the threshold with it dropped."""
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        x1, y1, x2, y2 = boxes[i]
        rest = []
        for j in order:
            iw = max(0.0, min(x2, boxes[j][2]) - max(x1, boxes[j][0]))
            ih = max(0.0, min(y2, boxes[j][3]) - max(y1, boxes[j][1]))
            inter = iw * ih
            union = (x2 - x1) * (y2 - y1) + (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1]) - inter
            if inter / max(union, 1e-9) <= threshold:
                rest.append(j)
        order = rest
    return keep


def test_nms_keeps_what_the_textbook_loop_keeps_on_crowds():
    # NMS compares only boxes that touch (a crowd's mosaic has thousands of candidates):
    # on random clusters of every spread, the same boxes in the same order.
    rng = np.random.default_rng(3)
    for trial in range(300):
        n, k = int(rng.integers(1, 200)), int(rng.integers(1, 30))
        centres = rng.uniform(0, rng.uniform(40, 1500), (k, 2))
        corners = centres[rng.integers(0, k, n)] + rng.normal(0, rng.uniform(0.5, 15), (n, 2))
        boxes = np.hstack((corners, corners + rng.uniform(3, 80, (n, 2)))).astype(np.float32)
        scores = rng.uniform(0.8, 1, n).astype(np.float32) if trial % 5 else np.full(n, 0.9, np.float32)
        threshold = float(rng.choice([0.3, 0.4, 0.5]))
        expected = greedy_nms_reference(boxes.astype(np.float64), scores, threshold)
        assert nms(boxes, scores, threshold).tolist() == expected, trial
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4).tolist() == []


def test_missing_model_raises_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        FaceDetector(tmp_path / "nope.onnx")


def test_corrupt_model_raises_model_error(tmp_path):
    bad = tmp_path / "face_detector.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="cannot be loaded"):
        FaceDetector(bad)


def test_detection_is_frozen():
    d = Detection(1.0, 2.0, 3.0, 4.0, 0.9, ((1.0, 2.0),) * 5)
    with pytest.raises(AttributeError):
        d.x1 = 5.0  # type: ignore[misc]


def test_region_detection_returns_frame_coordinates(detector, data_dir):
    image = _read(data_dir, "single_face.jpg")  # 572x562
    canvas = np.full((1200, 1600, 3), 90, np.uint8)
    canvas[300:862, 700:1272] = image
    alone = detector.detect(image, max_side=0)[0]
    (inside,) = detector.detect(canvas, region=(650, 250, 1350, 950), max_side=0)
    # the same face, shifted (a few px apart: the context around it differs)
    assert inside.x1 == pytest.approx(alone.x1 + 700, abs=6) and inside.y1 == pytest.approx(alone.y1 + 300, abs=6)
    assert inside.landmarks[0][0] == pytest.approx(alone.landmarks[0][0] + 700, abs=6)
    assert detector.detect(canvas, region=(0, 0, 600, 600)) == []  # no face there
    assert detector.detect(canvas, region=(5, 5, 6, 6)) == []  # degenerate region: nothing, no error
