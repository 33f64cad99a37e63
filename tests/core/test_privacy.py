"""'Blur faces' blurs every face image the app shows or writes: the recent-faces thumbnails,
the crops kept on disk, the recorded video; the analysis itself still sees the sharp crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.pipeline import NullObserver, Pipeline
from crowdmood_gui.core.sampling import blurred_crop
from crowdmood_gui.core.sessions import sessions_root

pytestmark = pytest.mark.slow


def detail(image: np.ndarray) -> float:
    """Fine detail left in an image (variance of its Laplacian): a face blurred to a few
    cells has next to none."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


class Records(NullObserver):
    def __init__(self) -> None:
        self.events = []

    def on_record(self, event) -> None:
        self.events.append(event)


def run(data_dir, *, blur: bool, session: str):
    config = AppConfig()
    config.source.spec = str(data_dir / "single_face.mp4")
    config.source.loop = False
    config.privacy.blur_faces = blur
    config.privacy.keep_crops = True
    observer = Records()
    pipeline = Pipeline(config, observer, realtime=False, session_name=session)
    pipeline.run()
    crops = sorted((sessions_root(config) / session / "crops").rglob("*.jpg"))
    return observer.events, crops


def test_blur_faces_covers_thumbnails_and_kept_crops_but_not_the_analysis(data_dir):
    sharp_events, sharp_crops = run(data_dir, blur=False, session="sharp")
    blurred_events, blurred_crops = run(data_dir, blur=True, session="blurred")
    assert len(sharp_events) == len(blurred_events) == 2
    assert len(sharp_crops) == len(blurred_crops) == 2
    for sharp, blurred in zip(sharp_events, blurred_events):
        assert sharp.thumbnail.shape == blurred.thumbnail.shape
        assert detail(blurred.thumbnail) < detail(sharp.thumbnail) / 5
        # The analysis saw the same sharp crop: the same expression values either way.
        assert sharp.record.faces[0].emotions == pytest.approx(blurred.record.faces[0].emotions)
    for sharp, blurred in zip(sharp_crops, blurred_crops):
        sharp_image, blurred_image = cv2.imread(str(sharp)), cv2.imread(str(blurred))
        assert sharp_image.shape == blurred_image.shape
        assert detail(blurred_image) < detail(sharp_image) / 5


def test_blurred_crop_is_a_copy_of_the_same_size():
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)
    out = blurred_crop(crop)
    assert out.shape == crop.shape and out is not crop
    assert detail(out) < detail(crop) / 20
    assert not np.array_equal(out, crop)


def test_blur_faces_covers_the_recorded_video(data_dir):
    """What the session recorder writes is the frame as shown: blurred where the faces are."""

    def recorded(blur: bool):
        config = AppConfig()
        config.source.spec = str(data_dir / "single_face.mp4")
        config.source.loop = False
        config.privacy.blur_faces = blur
        tapped = []
        pipeline = Pipeline(config, NullObserver(), realtime=False, frame_tap=tapped.append, session_name=f"video-{blur}")
        pipeline.run()
        return tapped

    sharp, blurred = recorded(False), recorded(True)
    assert len(sharp) == len(blurred) == 72
    event = sharp[40]
    box = event.tracks[0]
    x1, y1, x2, y2 = (int(v) for v in (box.x1, box.y1, box.x2, box.y2))
    face_sharp = sharp[40].image[y1:y2, x1:x2]
    face_blurred = blurred[40].image[y1:y2, x1:x2]
    assert detail(face_blurred) < detail(face_sharp) / 5
