"""Cameras per platform: the back-end OpenCV opens them with, and their names from
cv2-enumerate-cameras (faked here: no camera on the build machines)."""

from __future__ import annotations

import sys
import types

import cv2
import pytest

from crowdmood_gui.core import cameras
from crowdmood_gui.core.cameras import CameraInfo, camera_backends, list_cameras


@pytest.mark.parametrize(("platform", "expected"), [
    ("win32", (cv2.CAP_MSMF, cv2.CAP_DSHOW)),
    ("darwin", (cv2.CAP_AVFOUNDATION,)),
    ("linux", (cv2.CAP_V4L2,)),
    ("freebsd14", (cv2.CAP_ANY,)),
])
def test_each_platform_gets_its_own_camera_backend(platform, expected):
    assert camera_backends(platform) == expected


class FakeCapture:
    opened_with: list[tuple[int, int]] = []

    working: set[int] = set()

    def __init__(self, index=None, api=None):
        self.index, self.api = index, api
        if index is not None:
            FakeCapture.opened_with.append((index, api))
        self._open = api in FakeCapture.working

    def isOpened(self):
        return self._open

    def release(self):
        self._open = False


def test_windows_falls_back_from_media_foundation_to_directshow(monkeypatch):
    FakeCapture.opened_with, FakeCapture.working = [], {cv2.CAP_DSHOW}
    monkeypatch.setattr(cameras.sys, "platform", "win32")
    monkeypatch.setattr(cameras.cv2, "VideoCapture", FakeCapture)
    cap = cameras.open_camera(1)
    assert cap.isOpened() and cap.api == cv2.CAP_DSHOW
    assert FakeCapture.opened_with == [(1, cv2.CAP_MSMF), (1, cv2.CAP_DSHOW)]


def test_macos_opens_cameras_with_avfoundation(monkeypatch):
    FakeCapture.opened_with, FakeCapture.working = [], {cv2.CAP_AVFOUNDATION}
    monkeypatch.setattr(cameras.sys, "platform", "darwin")
    monkeypatch.setattr(cameras.cv2, "VideoCapture", FakeCapture)
    assert cameras.open_camera(0).isOpened()
    assert FakeCapture.opened_with == [(0, cv2.CAP_AVFOUNDATION)]


def fake_enumeration(monkeypatch, result):
    asked = []

    def enumerate_cameras(api):
        asked.append(api)
        if isinstance(result, Exception):
            raise result
        return result

    module = types.ModuleType("cv2_enumerate_cameras")
    module.enumerate_cameras = enumerate_cameras
    monkeypatch.setitem(sys.modules, "cv2_enumerate_cameras", module)
    return asked


def info(index, name):
    return types.SimpleNamespace(index=index, name=name, path=f"/dev/video{index}", vid=None, pid=None, backend=0)


def test_cameras_are_listed_by_the_name_the_os_gives(monkeypatch):
    asked = fake_enumeration(monkeypatch, [info(2, "USB Camera "), info(0, "Integrated Camera"), info(2, "USB Camera")])
    cameras = list_cameras()
    assert asked == [camera_backends()[0]]  # the same back-end the camera is then opened with
    assert cameras == [CameraInfo(0, "Integrated Camera"), CameraInfo(2, "USB Camera")]
    assert [c.label for c in cameras] == ["0: Integrated Camera", "2: USB Camera"]


def test_a_camera_without_a_name_shows_its_index(monkeypatch):
    fake_enumeration(monkeypatch, [info(1, "")])
    assert [c.label for c in list_cameras()] == ["1"]


@pytest.mark.parametrize("failure", [NotImplementedError("Unsupported backend"), OSError("no AVFoundation")])
def test_without_names_the_open_indices_are_listed(monkeypatch, failure):
    fake_enumeration(monkeypatch, failure)
    monkeypatch.setattr(cameras, "probe_camera_indices", lambda max_index=5: [0, 3])
    assert list_cameras() == [CameraInfo(0), CameraInfo(3)]


def test_without_the_package_the_open_indices_are_listed(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2_enumerate_cameras", None)  # import fails
    monkeypatch.setattr(cameras, "probe_camera_indices", lambda max_index=5: [1])
    assert [c.label for c in list_cameras()] == ["1"]


def test_the_real_listing_runs_here():
    from pathlib import Path

    if list(Path("/dev").glob("video*")):
        pytest.skip("this machine has a camera")
    assert list_cameras() == []  # cv2-enumerate-cameras installed and working: no camera, no error
