"""Why a stream failed, said right: real loopback servers that refuse us (401), RTSP over
TCP then UDP against GStreamer's own RTSP server, and analysis of a camera that is not there."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from crowdmood_gui.core.capture import CaptureThread, open_source
from crowdmood_gui.core.stream_probe import StreamRefused, probe_stream_refusal
from crowdmood_gui.core.errors import InputError

sys.path.insert(0, str(Path(__file__).parent))
from mjpeg_server import MjpegServer, closed_port, jpeg_frames_from_video  # noqa: E402
from rtsp_servers import AuthOnlyRtspServer, GstRtspServer, gst_rtsp_available  # noqa: E402
from test_capture import VIDEO, Events, _drain, _stop_and_join  # noqa: E402


@pytest.fixture(scope="module")
def jpegs():
    return jpeg_frames_from_video(VIDEO, max_frames=10, width=320)


# --- 401: a wrong user name or password ------------------------------------------------------


def test_http_camera_answering_401_is_a_wrong_password_not_could_not_connect(jpegs):
    with MjpegServer(jpegs, credentials=("admin", "right")) as camera:
        url = camera.url.replace("http://", "http://admin:wrong@")
        with pytest.raises(StreamRefused) as raised:
            open_source(url, open_timeout_s=3.0)
        message = str(raised.value)
        assert message.startswith("wrong user name or password for http://admin:***@127.0.0.1:")
        assert "wrong" not in message.split("@", 1)[1] and "could not connect" not in message
        assert camera.refused >= 1
        # The right password still streams (the check does not get in the way).
        good = camera.url.replace("http://", "http://admin:right@")
        with open_source(good, open_timeout_s=3.0) as source:
            assert source.read() is not None


def test_http_camera_without_credentials_in_the_url_asks_for_them(jpegs):
    with MjpegServer(jpegs, credentials=("admin", "right")) as camera:
        with pytest.raises(StreamRefused, match=r"needs a user name and password \(the camera answered 401"):
            open_source(camera.url, open_timeout_s=3.0)


def test_http_wrong_path_is_a_404_reason(jpegs):
    with MjpegServer(jpegs) as camera:
        assert probe_stream_refusal(camera.url.replace("/video", "/nothing")).endswith("404 Not Found)")
        assert probe_stream_refusal(camera.url) is None  # it answers 200: the cause is elsewhere


def test_rtsp_camera_answering_401_is_a_wrong_password():
    with AuthOnlyRtspServer() as camera:
        with pytest.raises(StreamRefused) as raised:
            open_source(camera.url(userinfo="admin:s3cret"), open_timeout_s=3.0)
        assert str(raised.value) == (f"wrong user name or password for rtsp://admin:***@127.0.0.1:{camera.port}/stream "
                                     "(the camera answered 401 Unauthorized)")
        assert camera.with_credentials >= 1  # the probe answered the Digest challenge


def test_nothing_listening_says_connection_refused_and_is_retried():
    url = f"http://127.0.0.1:{closed_port()}/video"
    with pytest.raises(InputError, match=f"could not connect to {url}: connection refused") as raised:
        open_source(url, open_timeout_s=1.0)
    assert not isinstance(raised.value, StreamRefused)  # a rebooting camera comes back: retried


def test_a_refused_stream_fails_at_once_instead_of_retrying(jpegs):
    """A wrong password never fixes itself, and cameras lock accounts after repeated bad logins."""
    events = Events()
    with MjpegServer(jpegs, credentials=("admin", "right")) as camera:
        thread = CaptureThread(camera.url.replace("http://", "http://admin:wrong@"), on_source_event=events,
                               open_timeout_s=2.0, reconnect_initial_backoff_s=0.1)
        thread.start()
        thread.join(10.0)
        assert not thread.is_alive()
    assert events.states() == ["opening", "failed"]
    assert events.items[-1].message.startswith("wrong user name or password")


# --- reconnecting is visible and logged -------------------------------------------------------


def test_reconnect_events_carry_the_attempt_and_the_delay_and_are_logged(caplog):
    events = Events()
    url = f"http://127.0.0.1:{closed_port()}/video"
    caplog.set_level(logging.WARNING, logger="crowdmood_gui.core.capture")
    thread = CaptureThread(url, on_source_event=events, open_timeout_s=1.0,
                           reconnect_initial_backoff_s=0.1, reconnect_max_backoff_s=0.4)
    thread.start()
    second = events.wait_for("reconnecting", count=2, timeout=5.0)
    _stop_and_join(thread)
    first = events.wait_for("reconnecting")
    assert (first.attempt, second.attempt) == (1, 2)
    assert 0 < first.retry_in_s and f"retrying in {first.retry_in_s:.1f} s" in first.message
    logged = [r.getMessage() for r in caplog.records]
    assert any("connection refused" in m and "attempt 1 failed" in m for m in logged), logged


# --- RTSP: TCP first, then UDP (GStreamer's RTSP server) ------------------------------------

needs_gst = pytest.mark.skipif(not gst_rtsp_available(),
                               reason="GStreamer's RTSP server is not installed (./dev test installs it)")


@needs_gst
@pytest.mark.parametrize("protocols", ["tcp+udp", "udp"])
def test_rtsp_tcp_then_udp_against_gstreamer(protocols, caplog):
    caplog.set_level(logging.INFO, logger="crowdmood_gui.core.capture")
    with GstRtspServer(protocols) as server:
        with open_source(server.url, open_timeout_s=15.0) as source:  # generous: a loaded CI machine
            assert (source.width, source.height) == (320, 240)
            assert sum(source.read() is not None for _ in range(5)) == 5
    used = "UDP" if protocols == "udp" else "TCP"
    assert any(f"streaming over RTSP/{used}" in r.getMessage() for r in caplog.records)


@needs_gst
def test_udp_only_rtsp_server_streams_in_the_capture_thread():
    """VLC serves RTSP over UDP only: the console used to force TCP and never connect."""
    events = Events()
    with GstRtspServer("udp") as server:
        thread = CaptureThread(server.url, on_source_event=events, open_timeout_s=15.0)
        thread.start()
        events.wait_for("open", timeout=40.0)
        assert len(_drain(thread.channel, 5, timeout=10.0)) == 5
        _stop_and_join(thread, within=3.0)


# --- analyse a camera that is not there ---------------------------------------------------


def test_analyze_a_missing_camera_exits_2_within_seconds(tmp_path):
    env_home = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    import os

    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "crowdmood_gui", "analyze", "7"], capture_output=True,
                              text=True, timeout=60, env={**os.environ, **env_home})
    except subprocess.TimeoutExpired:  # the bug: it waited for ever for camera 7
        pytest.fail(f"crowdmood analyze 7 still running after {time.monotonic() - started:.0f} s")
    assert done.returncode == 2, done.stderr
    assert "no camera at index 7" in done.stderr and "Traceback" not in done.stderr


def test_a_camera_that_hangs_on_open_fails_within_the_open_timeout(monkeypatch):
    from crowdmood_gui.core import capture

    released = threading.Event()

    class StuckCamera:
        def isOpened(self):  # noqa: N802 (OpenCV naming)
            time.sleep(3.0)  # a driver stuck in its open
            return True

        def read(self):
            return True, np.zeros((4, 4, 3), np.uint8)

        def release(self):
            released.set()

    monkeypatch.setattr(capture, "open_camera", lambda index: StuckCamera())
    started = time.monotonic()
    with pytest.raises(InputError, match=r"^camera 0 did not answer within 0.5 s"):
        open_source("0", open_timeout_s=0.5)
    assert time.monotonic() - started < 2.5
    assert released.wait(5.0)  # the late capture is released, not leaked
