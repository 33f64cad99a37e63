"""Crowd clips with exact ground truth: an N x N grid of copies of a one-face clip.

``tests/data/single_face.mp4`` has exactly one face in every frame, so a grid of its
copies has one face per cell: recall, false positives and identity switches are counted
without labels (field notes §8). Each cell plays the clip from its own offset, so the
faces do not move in step. Shared by ``tests/core/test_crowd_detection.py`` and
``bench/bench_crowd.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from crowdmood_gui.core.capture import read_video_frames

SINGLE_FACE = Path(__file__).resolve().parents[1] / "data" / "single_face.mp4"

Box = tuple[float, float, float, float]


def read_clip(path: Path = SINGLE_FACE) -> list[np.ndarray]:
    frames = read_video_frames(path)
    if not frames:
        raise RuntimeError(f"cannot read {path}")
    return frames


def reference_boxes(frames: list[np.ndarray]) -> list[Box]:
    """The one face of each source frame, found at native size (the clip's ground truth)."""
    from crowdmood_gui.core.detection import FaceDetector

    detector = FaceDetector(max_side=4096, threads=2)
    boxes = []
    for frame in frames:
        found = detector.detect(frame)
        if len(found) != 1:
            raise RuntimeError(f"the source clip must hold exactly one face per frame, found {len(found)}")
        boxes.append((found[0].x1, found[0].y1, found[0].x2, found[0].y2))
    return boxes


@dataclass
class Grid:
    """An N x N grid of the source clip in a ``width`` x ``height`` frame."""

    frames: list[np.ndarray]  # the source clip
    boxes: list[Box]  # its face per frame
    n: int
    width: int = 1920
    height: int = 1080

    def cell(self, row: int, col: int) -> tuple[int, int, int, int]:
        return (round(col * self.width / self.n), round(row * self.height / self.n),
                round((col + 1) * self.width / self.n), round((row + 1) * self.height / self.n))

    def offset(self, row: int, col: int) -> int:
        return (row * self.n + col) * 7 % len(self.frames)

    def face_px(self) -> float:
        """The faces' short side in the grid, source pixels (mean over the clip)."""
        x1, y1, x2, y2 = self.cell(0, 0)
        sx, sy = (x2 - x1) / self.frames[0].shape[1], (y2 - y1) / self.frames[0].shape[0]
        return float(np.mean([min((b[2] - b[0]) * sx, (b[3] - b[1]) * sy) for b in self.boxes]))

    def _scaled(self, k: int, w: int, h: int) -> np.ndarray:
        cache = self.__dict__.setdefault("_cache", {})
        key = (k, w, h)
        if key not in cache:
            cache[key] = cv2.resize(self.frames[k], (w, h), interpolation=cv2.INTER_AREA)
        return cache[key]

    def frame(self, index: int) -> tuple[np.ndarray, list[Box]]:
        """Frame ``index`` of the grid clip and its faces (one per cell, row by row)."""
        image = np.zeros((self.height, self.width, 3), np.uint8)
        truth: list[Box] = []
        src_h, src_w = self.frames[0].shape[:2]
        for row in range(self.n):
            for col in range(self.n):
                x1, y1, x2, y2 = self.cell(row, col)
                k = (index + self.offset(row, col)) % len(self.frames)
                image[y1:y2, x1:x2] = self._scaled(k, x2 - x1, y2 - y1)
                sx, sy = (x2 - x1) / src_w, (y2 - y1) / src_h
                b = self.boxes[k]
                truth.append((x1 + b[0] * sx, y1 + b[1] * sy, x1 + b[2] * sx, y1 + b[3] * sy))
        return image, truth

    def truth(self, index: int) -> list[Box]:
        """The faces of frame ``index`` only (cheap: no image)."""
        src_h, src_w = self.frames[0].shape[:2]
        out: list[Box] = []
        for row in range(self.n):
            for col in range(self.n):
                x1, y1, x2, y2 = self.cell(row, col)
                b = self.boxes[(index + self.offset(row, col)) % len(self.frames)]
                sx, sy = (x2 - x1) / src_w, (y2 - y1) / src_h
                out.append((x1 + b[0] * sx, y1 + b[1] * sy, x1 + b[2] * sx, y1 + b[3] * sy))
        return out

    def iter_frames(self, count: int) -> Iterator[tuple[np.ndarray, list[Box]]]:
        for index in range(count):
            yield self.frame(index)

    def write(self, path: Path, count: int, fps: float = 30.0) -> Path:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (self.width, self.height))
        if not writer.isOpened():
            raise RuntimeError(f"cannot write {path}")
        for image, _ in self.iter_frames(count):
            writer.write(image)
        writer.release()
        return path


def match_counts(found: list[Box], truth: list[Box], iou_min: float = 0.3) -> tuple[int, int, list[int]]:
    """(true faces found, false positives, for each found box the truth index it matched or -1);
    greedy one-to-one on IoU."""
    from crowdmood_gui.core.tracking import _greedy, iou_matrix

    if not found:
        return 0, 0, []
    iou = iou_matrix(np.asarray(found, float).reshape(-1, 4), np.asarray(truth, float).reshape(-1, 4))
    pairs = _greedy(iou, iou >= iou_min, descending=True)
    which = [-1] * len(found)
    for r, c in pairs:
        which[r] = c
    return len(pairs), len(found) - len(pairs), which
