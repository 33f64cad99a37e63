"""Which faces to analyse, and the crops sent for analysis; face blurring for privacy.

At most one crop per track every ``interval_s``: the number of analyses (and so the
Rekognition bill in AWS mode, about $0.001 per image) is bounded by people x time, not by
frames per second, and one person standing at the booth for long counts once per interval
instead of dominating the lines. A new track is sampled at once, so a face reaches the
chart within a frame or two of appearing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import cv2
import numpy as np

from crowdmood_gui.core.config import SamplingConfig
from crowdmood_gui.core.sharpness import sharpness
from crowdmood_gui.core.tracking import Track

#: ``wants(track_id, now_s, analysed_before) -> bool``: the backend's budget gate
#: (:meth:`AnalysisBackend.wants_sample` fits as-is).
WantsFn = Callable[[int, float, bool], bool]
#: ``has_reading(track_id) -> bool``: an expression of this person has come back. The one
#: place that knows is the crowd state (``TimelineAggregator.has_reading``).
HasReadingFn = Callable[[int], bool]

# Tracks first cut in the same frame (the first frame of a crowd, a group walking in) would
# otherwise be cut together every interval: a 1-s chart period then holds all of them or none
# (or one newcomer alone), and the lines zig-zag between the two. So the second crops of the
# k tracks first cut together are spread evenly over the next interval (track j of k waits
# j/k of an interval more), and they stay spread. A face that appears alone is not delayed.
_STAGGER_MEMORY = 4096  # tracks remembered between their first and second crop


@dataclass(frozen=True, slots=True)
class Sample:
    """One crop to analyse."""

    track_id: int
    crop: np.ndarray  # BGR uint8, a copy: the face plus ``margin`` on each side, clipped to the frame
    face_box: tuple[int, int, int, int]  # the face inside ``crop``: x1, y1, x2, y2
    landmarks: tuple[tuple[float, float], ...]  # shifted into ``crop`` coordinates
    score: float  # detection score, 0..1
    sharpness: float  # of the face, core/sharpness.py: measured once, passed on to the analysis
    now_s: float  # the time passed to select()


@dataclass(slots=True)
class SamplerStats:
    sampled: int = 0
    too_small: int = 0
    blurry: int = 0
    refused: int = 0  # the budget gate said no


def _int_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
    return max(0, x1), max(0, y1), min(width, x2), min(height, y2)


class CropSampler:
    def __init__(self, interval_s: float = 2.0, min_face_px: int | None = None, min_sharpness: float = 15.0,
                 margin: float = 0.25) -> None:
        self.interval_s = interval_s
        # Under this the expression model reads noise (measured: see SamplingConfig.min_face_px):
        # a crop that small costs CPU (or money) for nothing, so wait until the person is closer.
        self.min_face_px = SamplingConfig.model_fields["min_face_px"].default if min_face_px is None else min_face_px
        # Motion blur and defocus flatten expressions towards CALM: skip those frames; the
        # track stays due, so the next sharp frame of the same person is taken instead.
        self.min_sharpness = min_sharpness
        # Context around the face (chin, brows, hair line) helps both analysers; Rekognition
        # also needs to *detect* the face inside the crop again.
        self.margin = margin
        self.stats = SamplerStats()
        self._stagger_s: dict[int, float] = {}  # track id -> extra wait before its second crop

    def is_due(self, track: Track, now_s: float) -> bool:
        if track.last_sampled_s is None:
            return True
        return now_s - track.last_sampled_s >= self.interval_s + self._stagger_s.get(track.id, 0.0)

    def overdue_s(self, track: Track, now_s: float) -> float:
        """How long past due ``track`` is (infinite: never cut)."""
        if track.last_sampled_s is None:
            return float("inf")
        return now_s - track.last_sampled_s - self.interval_s - self._stagger_s.get(track.id, 0.0)

    def select(self, frame_image: np.ndarray, tracks: Iterable[Track], now_s: float,
               wants: WantsFn = lambda track_id, now_s, analysed_before: True,
               has_reading: HasReadingFn = lambda track_id: False,
               max_crops: int | None = None) -> list[Sample]:
        """Crops for the visible ``tracks`` that are due; marks them sampled at ``now_s``.
        A person counts as analysed before once a crop of theirs was cut here or a reading
        of theirs came back (``has_reading``).

        ``max_crops`` (the backend's allowance, live): at most that many, the most overdue
        first (never-cut tracks before all), so in a crowd wanting more crops than the
        backend takes every person is still read in turn, only less often than the interval."""
        height, width = frame_image.shape[:2]
        samples: list[Sample] = []
        first_cut: list[int] = []  # tracks cut for the first time in this frame
        if max_crops is not None:
            if max_crops <= 0:
                return samples
            due = [t for t in tracks if self.is_due(t, now_s)]
            tracks = sorted(due, key=lambda t: -self.overdue_s(t, now_s))  # stable: ties keep their order
        for track in tracks:
            if max_crops is not None and len(samples) >= max_crops:
                break
            if not self.is_due(track, now_s):
                continue
            fx1, fy1, fx2, fy2 = _int_box(track.box, width, height)
            if min(fx2 - fx1, fy2 - fy1) < self.min_face_px:
                self.stats.too_small += 1
                continue
            sharp = sharpness(frame_image[fy1:fy2, fx1:fx2])
            if sharp < self.min_sharpness:
                self.stats.blurry += 1
                continue
            analysed_before = track.last_sampled_s is not None or has_reading(track.id)
            if not wants(track.id, now_s, analysed_before):
                self.stats.refused += 1
                continue
            samples.append(self._cut(frame_image, track, sharp, now_s))
            if track.last_sampled_s is None:
                first_cut.append(track.id)
            else:
                self._stagger_s.pop(track.id, None)
            track.last_sampled_s = now_s
            self.stats.sampled += 1
        for j, track_id in enumerate(first_cut[1:], start=1):
            self._stagger_s[track_id] = j / len(first_cut) * self.interval_s
        while len(self._stagger_s) > _STAGGER_MEMORY:  # tracks cut once and gone: forget the oldest
            del self._stagger_s[next(iter(self._stagger_s))]
        return samples

    def _cut(self, image: np.ndarray, track: Track, sharp: float, now_s: float) -> Sample:
        height, width = image.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in track.box)
        mx, my = (x2 - x1) * self.margin, (y2 - y1) * self.margin
        cx1, cy1, cx2, cy2 = _int_box((x1 - mx, y1 - my, x2 + mx, y2 + my), width, height)
        crop = image[cy1:cy2, cx1:cx2].copy()
        fx1, fy1, fx2, fy2 = _int_box(track.box, width, height)
        face_box = (fx1 - cx1, fy1 - cy1, fx2 - cx1, fy2 - cy1)
        landmarks = tuple((float(px) - cx1, float(py) - cy1) for px, py in (track.landmarks or ()))
        return Sample(track_id=track.id, crop=crop, face_box=face_box, landmarks=landmarks,
                      score=float(track.score), sharpness=sharp, now_s=now_s)


def _box_coords(box: Any) -> tuple[float, float, float, float]:
    if hasattr(box, "x1"):
        return float(box.x1), float(box.y1), float(box.x2), float(box.y2)
    if hasattr(box, "box"):
        return tuple(float(v) for v in box.box[:4])  # type: ignore[return-value]
    return tuple(float(v) for v in box[:4])  # type: ignore[return-value]


def blurred_crop(image: np.ndarray) -> np.ndarray:
    """A blurred copy of a face crop (a thumbnail, a crop kept on disk): the whole crop is
    the face and its margin, so all of it is pixelated, the way :func:`blur_faces` does."""
    height, width = image.shape[:2]
    return blur_faces(image.copy(), [(0, 0, width, height)], margin=0.0)


def blur_faces(image: np.ndarray, boxes: Iterable[Any], *, margin: float = 0.15, blocks: int = 8) -> np.ndarray:
    """Anonymise every face box *in place* and return ``image``.

    Each box (a tuple ``x1, y1, x2, y2``, a Track, a TrackBox or a Detection) is grown by
    ``margin`` and pixelated to ``blocks`` cells across, then smoothed: pixelation of a
    few cells cannot be undone (a plain Gaussian blur partly can) and the smoothing keeps
    it from looking like a glitch.
    """
    height, width = image.shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = _box_coords(box)
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        bx1, by1, bx2, by2 = _int_box((x1 - mx, y1 - my, x2 + mx, y2 + my), width, height)
        w, h = bx2 - bx1, by2 - by1
        if w < 2 or h < 2:
            continue
        roi = image[by1:by2, bx1:bx2]
        cells_x = max(1, min(blocks, w))
        cells_y = max(1, min(h, round(blocks * h / w)))
        small = cv2.resize(roi, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        k = max(3, (2 * min(w, h) // blocks) | 1)  # about two cells: hides the cell edges
        roi[:] = cv2.GaussianBlur(coarse, (k, k), 0)
    return image
