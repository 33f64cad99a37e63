"""One sharpness measure (core/sharpness.py): the sampler's gate and Quality.Sharpness read the
same number, measured once per crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from crowdmood_gui.core import expression, sampling
from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.detection import FaceDetector
from crowdmood_gui.core.expression import face_details, quality
from crowdmood_gui.core.sharpness import quality_sharpness, sharpness

# Quality.Sharpness of the largest face of each portrait with the earlier formula (the grey
# face resized to 96x96, variance / 300), measured before the two formulas became one:
# (sharp, blurred by sigma 3 px).
EARLIER_QUALITY = {
    "0-f1-su-ph.jpg": (81.8, 23.9),
    "0-f15-hao-ph.jpg": (79.6, 25.6),
    "15-f13-anc-ph.jpg": (71.7, 21.7),
    "45-m7-di-ph.jpg": (68.7, 13.3),
    "single_face.jpg": (91.1, 25.7),
    "multi_face.jpg": (86.6, 5.6),
}


@pytest.fixture
def faces(data_dir):
    detector = FaceDetector()
    out = {}
    for name in EARLIER_QUALITY:
        image = cv2.imread(str(data_dir / name))
        face = max(detector.detect(image), key=lambda f: f.width)
        x1, y1, x2, y2 = face.box_int()
        out[name] = (image[y1:y2, x1:x2], cv2.GaussianBlur(image, (0, 0), 3)[y1:y2, x1:x2])
    return out


def test_quality_of_faces_of_96_px_and_more_stays_where_it_was(faces):
    # The scale was rescaled (300 -> 390) for the new variance: the 0..100 values move by a few points.
    for name, (sharp_face, blurred_face) in faces.items():
        assert min(sharp_face.shape[:2]) >= 96
        was_sharp, was_blurred = EARLIER_QUALITY[name]
        assert quality(sharp_face)["Sharpness"] == pytest.approx(was_sharp, abs=6), name
        assert quality(blurred_face)["Sharpness"] == pytest.approx(was_blurred, abs=6), name


def test_a_small_sharp_face_is_not_read_as_blurred(faces):
    # The bug of the earlier Quality formula: it interpolated a small face *up* to 96x96,
    # which blurs it, so a sharp portrait shrunk to 40 px scored 45-82 where the full-size
    # face scored 69-91 (and the sampler's gate, which never scaled up, disagreed with it).
    for name, (sharp_face, _) in faces.items():
        h, w = sharp_face.shape[:2]
        small = cv2.resize(sharp_face, (40, round(40 * h / w)), interpolation=cv2.INTER_AREA)
        assert quality(small)["Sharpness"] >= quality(sharp_face)["Sharpness"] - 1, name


def test_one_measure_for_grey_and_colour_and_the_gate_threshold_unchanged(faces):
    sharp_face, blurred_face = faces["single_face.jpg"]
    assert sharpness(sharp_face) == sharpness(cv2.cvtColor(sharp_face, cv2.COLOR_BGR2GRAY))
    # the default gate (15, unchanged) passes a sharp face and a sigma-3 blur of a large one
    # alike (the gate is for motion blur): same values as the sampler has always computed.
    assert sharpness(sharp_face) > 500 and sharpness(blurred_face) > AppConfig().sampling.min_sharpness
    flat = np.full((80, 60, 3), 128, np.uint8)
    assert sharpness(flat) == 0.0 and sharpness(np.zeros((2, 2), np.uint8)) == 0.0
    assert quality_sharpness(0.0) == 0.0 and 99 < quality_sharpness(5000.0) <= 100.0


def test_face_details_uses_the_sharpness_it_is_given(faces, monkeypatch):
    sharp_face, _ = faces["single_face.jpg"]
    h, w = sharp_face.shape[:2]
    probs = {"HAPPY": 1.0}
    measured = face_details(sharp_face, (0, 0, w, h), probs, 0.9)["Quality"]["Sharpness"]
    assert measured > 80

    def no_second_measure(face):
        raise AssertionError("the face was measured again")

    monkeypatch.setattr(expression, "measure_sharpness", no_second_measure)
    given = face_details(sharp_face, (0, 0, w, h), probs, 0.9, sharpness=sharpness(sharp_face))
    assert given["Quality"]["Sharpness"] == pytest.approx(measured)
    assert face_details(sharp_face, (0, 0, w, h), probs, 0.9, sharpness=10.0)["Quality"]["Sharpness"] < 5


@pytest.mark.slow
def test_the_pipeline_measures_each_crop_once(data_dir, monkeypatch):
    from crowdmood_gui.core.backends.local import LocalBackend
    from crowdmood_gui.core.pipeline import Pipeline

    sampler_calls = []
    real = sampling.sharpness
    monkeypatch.setattr(sampling, "sharpness", lambda face: sampler_calls.append(1) or real(face))

    def no_second_measure(face):
        raise AssertionError("the crop was measured again")

    monkeypatch.setattr(expression, "measure_sharpness", no_second_measure)
    details = []
    real_face_details = expression.face_details

    def spy(*args, **kwargs):
        detail = real_face_details(*args, **kwargs)
        details.append(detail)
        return detail

    monkeypatch.setattr(expression, "face_details", spy)
    config = AppConfig()
    config.source.spec = str(data_dir / "single_face.mp4")
    config.source.loop = False
    pipeline = Pipeline(config, realtime=False, backend=LocalBackend(block_when_full=True))
    pipeline.run()
    assert details and sampler_calls and len(details) <= len(sampler_calls)
    assert all(d["Quality"]["Sharpness"] > 0 for d in details)
