"""Cameras on this machine: the OpenCV back-end each OS opens them with, and the list the
source dialog offers (with the names the OS gives them, when cv2-enumerate-cameras can).
``core/capture.py`` opens a camera through :func:`open_camera` and reads its frames."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2

log = logging.getLogger(__name__)


def camera_backends(platform: str | None = None) -> tuple[int, ...]:
    """OpenCV's camera back-ends for this OS, the preferred first: Media Foundation then
    DirectShow (some cameras and virtual cameras exist only there) on Windows, AVFoundation on
    macOS, V4L2 on Linux. CAP_ANY would let OpenCV try GStreamer or FFmpeg with an index."""
    platform = platform or sys.platform
    if platform == "win32":
        return (cv2.CAP_MSMF, cv2.CAP_DSHOW)
    if platform == "darwin":
        return (cv2.CAP_AVFOUNDATION,)
    if platform.startswith("linux"):
        return (cv2.CAP_V4L2,)
    return (cv2.CAP_ANY,)


def open_camera(index: int) -> cv2.VideoCapture:
    """Camera ``index`` opened with the first of :func:`camera_backends` that opens it (not opened: none did)."""
    for api in camera_backends():
        if api == cv2.CAP_V4L2 and not Path(f"/dev/video{index}").exists():
            continue  # skip V4L2's warnings about a missing device
        cap = cv2.VideoCapture(index, api)
        if cap.isOpened():
            return cap
        cap.release()
    return cv2.VideoCapture()  # not opened


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A camera for the source list: the index to open, and the OS's name for it if known."""

    index: int
    name: str | None = None

    @property
    def label(self) -> str:
        return f"{self.index}: {self.name}" if self.name else str(self.index)


def list_cameras(max_index: int = 5) -> list[CameraInfo]:
    """Cameras with the names the OS gives them (``cv2-enumerate-cameras``, for the preferred
    back-end of :func:`camera_backends`); where names cannot be had (package or OS API
    missing), the indices that open, unnamed."""
    try:
        from cv2_enumerate_cameras import enumerate_cameras

        found = enumerate_cameras(camera_backends()[0])
    except Exception as exc:  # ImportError, NotImplementedError, an OS API error: fall back
        log.debug("camera names unavailable (%s): probing indices", exc)
        return [CameraInfo(index) for index in probe_camera_indices(max_index)]
    cameras: dict[int, CameraInfo] = {}
    for camera in found:
        cameras.setdefault(int(camera.index), CameraInfo(int(camera.index), (camera.name or "").strip() or None))
    return sorted(cameras.values(), key=lambda camera: camera.index)


def probe_camera_indices(max_index: int = 5) -> list[int]:
    """Camera indices that open, for the UI's source list. Cheap on Linux (only existing
    ``/dev/videoN`` are tried); elsewhere each index is opened and released."""
    found: list[int] = []
    for index in range(max_index + 1):
        cap = open_camera(index)
        try:
            if cap.isOpened():
                found.append(index)
        finally:
            cap.release()
    return found
