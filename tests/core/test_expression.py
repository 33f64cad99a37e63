"""The bundled expression models through the app's path: detector -> sampler crop + face box -> model.

Portrait results measured with this code (flip averaging; each model frames the face from the
crop and its box; bench/eval_expression.py prints them all):

| portrait | fer | faceapi | ensemble (the default) |
|---|---|---|---|
| surprise | SURPRISED 90 % | SURPRISED 99 % | SURPRISED 91 % |
| happy | HAPPY 99 % | HAPPY 100 % | HAPPY 99 % |
| angry | ANGRY 41 % (SAD 33 %) | SAD 94 % | ANGRY 40 % (SAD 33 %) |
| disgust | SAD 56 % | CALM 73 % | SAD 43 % |

DISGUSTED stays under 1 % in all three (crowdmood_gui/resources/models/README.md).
"""

from __future__ import annotations

import hashlib
import re

import boto3
import cv2
import numpy as np
import pytest
from botocore.stub import Stubber

from crowdmood_gui.core.config import MODELS_DIR, AppConfig, ExpressionConfig
from crowdmood_gui.core.detection import FaceDetector
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.errors import ModelError
from crowdmood_gui.core.expression import (
    ENSEMBLE_FACEAPI_WEIGHT,
    FRAMINGS,
    MODEL_CHOICES,
    MODEL_LIMITS,
    ExpressionModel,
    Framing,
    combine,
    estimate_pose,
    face_details,
    model_limits,
    quality,
)
from crowdmood_gui.core.records import build_record, CaptureMeta


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(threads=1)


@pytest.fixture(scope="module")
def model() -> ExpressionModel:
    return ExpressionModel(choice="fer", threads=1)


@pytest.fixture(scope="module")
def shipped() -> ExpressionModel:
    """The default of the config (what the console and `analyze` run)."""
    return ExpressionModel.from_config(ExpressionConfig())


@pytest.fixture(scope="module")
def faceapi() -> ExpressionModel:
    return ExpressionModel(choice="faceapi", threads=1)


def _face(detector, data_dir, name):
    image = cv2.imread(str(data_dir / name))
    assert image is not None, name
    faces = detector.detect(image)
    assert len(faces) == 1, name
    return image, faces[0]


def _sampled(detector, data_dir, name, margin=AppConfig().sampling.margin):
    """The crop the sampler cuts (face box plus margin) and the face box inside it."""
    image, face = _face(detector, data_dir, name)
    h, w = image.shape[:2]
    mx, my = face.width * margin, face.height * margin
    cx1, cy1 = int(max(0, face.x1 - mx)), int(max(0, face.y1 - my))
    cx2, cy2 = int(min(w, face.x2 + mx)), int(min(h, face.y2 + my))
    return image[cy1:cy2, cx1:cx2], (face.x1 - cx1, face.y1 - cy1, face.x2 - cx1, face.y2 - cy1)


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
            reason="known limit: no bundled model reads posed disgust (DISGUSTED < 1 % in fer, face-api.js and "
            "the ensemble; the ensemble reads SAD 43 %, face-api.js CALM 73 %); facex and four other registry "
            "models measured no better (crowdmood_gui/resources/models/README.md)",
            strict=True,  # a model that gets it right must remove this mark
        ),
    ),
]


@pytest.mark.parametrize(("name", "expected"), PORTRAITS)
def test_posed_portraits_with_the_shipped_default(detector, shipped, data_dir, name, expected):
    crop, box = _sampled(detector, data_dir, name)
    (probs,) = shipped.predict([crop], [box])  # the local backend's call
    assert _dominant(probs) == expected, {k: round(v, 3) for k, v in probs.items()}


@pytest.mark.parametrize(("name", "expected"), PORTRAITS)
def test_posed_portraits_with_fer_alone(detector, model, data_dir, name, expected):
    image, face = _face(detector, data_dir, name)
    x1, y1, x2, y2 = face.box_int()
    (probs,) = model.predict([image[y1:y2, x1:x2]])  # a crop that is the face box itself
    assert _dominant(probs) == expected, {k: round(v, 3) for k, v in probs.items()}


@pytest.mark.parametrize(("name", "expected"), [
    ("0-f1-su-ph.jpg", "SURPRISED"),
    ("0-f15-hao-ph.jpg", "HAPPY"),
    ("single_face.jpg", "HAPPY"),
])
def test_faceapi_reads_what_it_reads_right(detector, faceapi, data_dir, name, expected):
    crop, box = _sampled(detector, data_dir, name)
    (probs,) = faceapi.predict([crop], [box])
    assert _dominant(probs) == expected and probs[expected] > 0.9, {k: round(v, 3) for k, v in probs.items()}
    assert probs["CONFUSED"] == 0.0 and sum(probs.values()) == pytest.approx(1.0, abs=1e-4)


def test_the_config_choice_switches_models(detector, data_dir):
    """The angry portrait tells the models apart: fer ANGRY, face-api.js SAD, the ensemble ANGRY."""
    crop, box = _sampled(detector, data_dir, "15-f13-anc-ph.jpg")
    read = {}
    for choice in MODEL_CHOICES:
        m = ExpressionModel.from_config(ExpressionConfig(model=choice))
        assert m.choice == choice
        (probs,) = m.predict([crop], [box])
        read[choice] = _dominant(probs)
    assert read == {"fer": "ANGRY", "faceapi": "SAD", "ensemble": "ANGRY"}
    assert ExpressionConfig().model == "ensemble" and ExpressionModel().choice == "ensemble"


def test_the_backend_factory_uses_the_configured_model():
    from datetime import UTC, datetime

    from crowdmood_gui.core.backends import make_backend

    config = AppConfig()
    config.expression.model = "faceapi"
    backend = make_backend(config, session="s", session_start=datetime.now(UTC), realtime=True)
    assert backend._model.choice == "faceapi"


def test_a_bad_choice_is_a_config_error(tmp_path):
    from crowdmood_gui.core.config import load_config
    from crowdmood_gui.core.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text('[expression]\nmodel = "best"\n')
    with pytest.raises(ConfigError, match="expression.model"):
        load_config(path)
    with pytest.raises(ModelError, match="unknown expression model"):
        ExpressionModel(choice="best")


def test_ensemble_is_deterministic_and_the_documented_mix(detector, shipped, data_dir):
    crops, boxes = zip(*(_sampled(detector, data_dir, n)
                         for n in ("0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")))
    first = shipped.predict_models(list(crops), list(boxes))
    second = shipped.predict_models(list(crops), list(boxes))
    for key in ("fer", "faceapi", "combined"):
        assert np.array_equal(first[key], second[key]), key
    # combined = per class (1 - w) * fer + w * faceapi, renormalised
    w = np.array([ENSEMBLE_FACEAPI_WEIGHT[e] for e in EMOTIONS])
    mixed = (1 - w) * first["fer"] + w * first["faceapi"]
    np.testing.assert_allclose(first["combined"], mixed / mixed.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(first["combined"].sum(axis=1), 1.0, atol=1e-5)
    assert (first["combined"][:, EMOTIONS.index("CONFUSED")] == 0).all()
    # predict() reports exactly the combined row
    as_dicts = shipped.predict(list(crops), list(boxes))
    assert [d["SURPRISED"] for d in as_dicts] == pytest.approx(first["combined"][:, EMOTIONS.index("SURPRISED")].tolist())


def test_combine_keeps_empty_rows_zero_and_honours_weights():
    fer = np.zeros((2, len(EMOTIONS)), np.float32)
    api = np.zeros((2, len(EMOTIONS)), np.float32)
    fer[0, EMOTIONS.index("ANGRY")] = api[0, EMOTIONS.index("SAD")] = 1.0
    out = combine(fer, api)
    assert out[0, EMOTIONS.index("ANGRY")] == 1.0  # SAD's weight for face-api.js is 0
    assert not out[1].any()
    half = combine(fer, api, dict.fromkeys(EMOTIONS, 0.5))
    assert half[0, EMOTIONS.index("ANGRY")] == half[0, EMOTIONS.index("SAD")] == pytest.approx(0.5)


def test_framing_regions():
    crop = np.arange(100 * 80 * 3, dtype=np.uint8).reshape(100, 80, 3)
    box = (20, 10, 60, 90)  # 40 wide, 80 tall
    assert Framing(1.0, 1.0).region(box) == (20, 10, 60, 90)
    assert Framing(0.9, 0.85).region(box) == (22, 16, 58, 84)
    assert Framing(1.0, 1.0, square=True).region(box) == (0, 10, 80, 90)
    face = Framing(1.3, 1.3, square=True).cut(crop, box)  # reaches outside: edge pixels repeated
    assert face.shape[:2] == (104, 104)
    assert np.array_equal(face[0, 12:92], crop[0, :]) and np.array_equal(face[1, 12:92], crop[0, :])
    assert np.array_equal(Framing().cut(crop, None), crop)
    assert Framing().cut(crop, (10, 10, 11, 50)) is None  # a box 1 px wide
    assert Framing().cut(np.zeros((0, 5, 3), np.uint8), None) is None
    assert set(FRAMINGS) == {"fer", "faceapi"}


def test_model_limits_say_confused_and_disgust_for_every_choice():
    for choice in MODEL_CHOICES:
        text = " ".join(model_limits(choice))
        assert "CONFUSED" in text and "DISGUSTED" in text
    assert set(MODEL_LIMITS) == {"all", *MODEL_CHOICES}


def test_bundled_models_match_the_readme():
    """Each .onnx in crowdmood_gui/resources/models has the sha256 its README row gives (rebuilt, not edited)."""
    readme = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([\w.]+\.onnx)`[^|]*\|.*?\| `([0-9a-f]{64})` \|", readme, re.M)}
    onnx_files = sorted(p.name for p in MODELS_DIR.glob("*.onnx"))
    assert sorted(rows) == onnx_files == ["expression.onnx", "expression_faceapi.onnx", "face_detector.onnx",
                                          "face_detector_int8.onnx"]
    for name, digest in rows.items():
        assert hashlib.sha256((MODELS_DIR / name).read_bytes()).hexdigest() == digest, name
    for licence in ("LICENSE-expression.txt", "LICENSE-expression_faceapi.txt", "LICENSE-face_detector.txt"):
        assert "MIT License" in (MODELS_DIR / licence).read_text(encoding="utf-8")


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


@pytest.mark.parametrize("choice", MODEL_CHOICES)
def test_empty_and_odd_crops_do_not_raise(choice):
    m = ExpressionModel(choice=choice)
    grey = np.full((40, 30), 128, np.uint8)
    bgra = np.full((40, 30, 4), 128, np.uint8)
    empty = np.zeros((0, 10, 3), np.uint8)
    out = m.predict([grey, bgra, empty, grey], [None, (5, 5, 25, 35), None, (100, 100, 140, 140)])
    assert sum(out[0].values()) == pytest.approx(1.0, abs=1e-4)
    assert sum(out[1].values()) == pytest.approx(1.0, abs=1e-4)
    assert all(v == 0.0 for v in out[2].values())
    assert all(v == 0.0 for v in out[3].values())  # a box outside the crop
    with pytest.raises(ValueError, match="one face box per crop"):
        m.predict([grey], [])


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
    (probs,) = model.predict([crop], [box])  # what the local backend does with one crop
    return crop, box, face, marks, face_details(crop, box, probs, face.score, marks)


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
    with pytest.raises(ModelError, match="missing"):
        ExpressionModel(choice="ensemble", faceapi_path=tmp_path / "expression_faceapi.onnx")


def test_wrong_model_raises_model_error():
    from crowdmood_gui.core.detection import DEFAULT_MODEL

    with pytest.raises(ModelError, match="unexpected input"):
        ExpressionModel(DEFAULT_MODEL)  # the detector graph is not an expression model
    with pytest.raises(ModelError, match=r"unexpected input .*expected \[N, 3, 112, 112\]"):
        ExpressionModel(choice="faceapi", faceapi_path=MODELS_DIR / "expression.onnx")
