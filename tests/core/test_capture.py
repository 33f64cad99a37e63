"""Capture: source specs, opening and reading files/streams, bad inputs, the capture thread."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from crowdmood_gui.core.capture import (
    CaptureThread,
    Frame,
    FrameChannel,
    LiveClock,
    SourceSpec,
    open_source,
    redact_url,
)
from crowdmood_gui.core.cameras import probe_camera_indices
from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.frame_pool import FRAME_POOL_SIZE
from crowdmood_gui.core.retry import backoff_delay

sys.path.insert(0, str(Path(__file__).parent))
from mjpeg_server import MjpegServer, SilentServer, closed_port, jpeg_frames_from_video  # noqa: E402

DATA = Path(__file__).parents[1] / "data"
VIDEO = DATA / "single_face.mp4"


def _frame(i: int) -> Frame:
    return Frame(index=i, media_time_s=i / 30, captured_monotonic=time.monotonic(),
                 image=np.zeros((2, 2, 3), np.uint8))


class Events:
    """Collects SourceEvents from the capture thread; wait for a state."""

    def __init__(self) -> None:
        self.items = []
        self._cond = threading.Condition()

    def __call__(self, event) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def states(self) -> list[str]:
        return [e.state for e in self.items]

    def wait_for(self, state: str, count: int = 1, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(e.state == state for e in self.items) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {state!r} #{count} within {timeout} s: {self.items}")
                self._cond.wait(left)
            return [e for e in self.items if e.state == state][count - 1]


def _drain(channel: FrameChannel, n: int, timeout: float = 5.0) -> list[Frame]:
    frames, deadline = [], time.monotonic() + timeout
    while len(frames) < n and time.monotonic() < deadline:
        frame = channel.get(0.1)
        if frame is not None:
            frames.append(frame)
        elif channel.exhausted:
            break
    return frames


def _stop_and_join(thread: CaptureThread, within: float = 0.5) -> float:
    t0 = time.monotonic()
    thread.stop_event.set()
    thread.join(within + 1.0)
    took = time.monotonic() - t0
    assert not thread.is_alive()
    return took


# --- specs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind, live",
    [
        ("0", "camera", True),
        (" 1 ", "camera", True),
        ("videos/booth.mp4", "file", False),
        ("C:\\videos\\booth.mp4", "file", False),
        ("file:///tmp/booth.mp4", "file", False),
        ("rtsp://cam.local:554/stream1", "rtsp", True),
        ("RTSPS://cam.local/stream1", "rtsp", True),
        ("http://192.168.1.20:8080/video", "http", True),
        ("https://cam.example/mjpeg", "http", True),
    ],
)
def test_parse_classifies_sources(text, kind, live):
    spec = SourceSpec.parse(text)
    assert spec.kind == kind
    assert spec.is_live is live


def test_parse_details_and_redaction():
    assert SourceSpec.parse("1").camera_index == 1
    assert SourceSpec.parse("file:///tmp/a.mp4").path == Path("/tmp/a.mp4")
    spec = SourceSpec.parse("rtsp://admin:s3cret@10.0.0.5:554/live")
    assert spec.url == "rtsp://admin:s3cret@10.0.0.5:554/live"
    assert "s3cret" not in spec.display_name and "admin:***@10.0.0.5:554" in spec.display_name
    assert redact_url("http://h/x") == "http://h/x"


@pytest.mark.parametrize("text, message", [("", "no video source"), ("   ", "no video source"),
                                           ("ftp://host/v.mp4", "unsupported source"),
                                           ("http:///video", "no host name")])
def test_parse_rejects(text, message):
    with pytest.raises(InputError, match=message):
        SourceSpec.parse(text)


# --- files -------------------------------------------------------------------------------


def test_open_file_reads_all_frames_with_media_time():
    with open_source(str(VIDEO)) as source:
        assert (source.width, source.height) == (640, 360)
        assert source.fps == pytest.approx(30.0)
        assert source.frame_count == 72
        assert source.duration_s == pytest.approx(2.4)
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert len(frames) == 72
    assert [f.index for f in frames] == list(range(72))
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8
    assert np.allclose([f.media_time_s for f in frames], np.arange(72) / 30.0, atol=1e-3)
    assert all(b.captured_monotonic >= a.captured_monotonic for a, b in zip(frames, frames[1:]))


def test_a_frame_array_is_decoded_into_again_only_once_nothing_holds_it():
    # The source decodes into arrays nobody refers to any more (no 25 MB page-faulted per 4K
    # frame); a frame still held anywhere, even through a view of it, must never change.
    reference = []
    with open_source(str(VIDEO)) as source:
        while (frame := source.read()) is not None:
            reference.append(frame.image.copy())
    with open_source(str(VIDEO)) as source:
        held = [source.read().image for _ in range(10)]  # ten frames still in use
        corner = source.read().image[:40, :40]  # a view: holds its frame too
        ids = {id(a) for a in held} | {id(corner.base)}
        assert len(ids) == 11  # each one its own array
        later = [source.read() for _ in range(20)]
        assert all(id(f.image) not in ids for f in later)
        for i, image in enumerate(held):
            assert np.array_equal(image, reference[i])
        assert np.array_equal(corner, reference[10][:40, :40])
        del later
        recycled = {id(source.read().image) for _ in range(20)}  # frames dropped at once
        assert len(recycled) <= FRAME_POOL_SIZE  # the pool's arrays, decoded into again and again
    with open_source(str(VIDEO)) as source:  # and what each read returns is that frame
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame.image.copy())  # a copy: the array itself goes back to the pool
    assert len(frames) == 72 and all(np.array_equal(a, b) for a, b in zip(frames, reference))


def test_looping_file_keeps_a_continuous_timeline():
    with open_source(SourceSpec.parse(str(VIDEO)), loop=True) as source:
        frames = [source.read() for _ in range(160)]
    assert all(f is not None for f in frames)
    times = [f.media_time_s for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert np.allclose(np.diff(times), 1 / 30, atol=1e-3)  # no jump or gap at the loop point
    assert frames[72].loop == 1 and frames[72].media_time_s == pytest.approx(2.4, abs=1e-3)
    assert frames[-1].index == 159 and frames[-1].loop == 2
    assert np.array_equal(frames[72].image, frames[0].image)  # it really restarted


def _bad_files(tmp: Path) -> dict[str, Path]:
    data = VIDEO.read_bytes()
    (tmp / "folder.mp4").mkdir()
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "notes.mp4").write_text("these are not the frames you are looking for\n" * 20)
    shutil.copy(DATA / "single_face.jpg", tmp / "photo.mp4")
    (tmp / "cut.mp4").write_bytes(data[: len(data) // 3])  # the index (moov) is at the end: gone
    return {p.name: p for p in tmp.iterdir()}


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing.mp4", r"video file not found: .*missing\.mp4$"),
        ("folder.mp4", r"folder\.mp4 is a directory, not a video file$"),
        ("empty.mp4", r"empty\.mp4 is empty \(0 bytes\), not a video$"),
        ("notes.mp4", r"notes\.mp4 is not a video file \(unrecognised format\)$"),
        ("photo.mp4", r"photo\.mp4 is a JPEG image, not a video$"),
        ("cut.mp4", r"cut\.mp4 is corrupt or truncated: the video container cannot be read$"),
    ],
)
def test_bad_files_give_one_line_input_errors(tmp_path, name, message):
    _bad_files(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        open_source(str(tmp_path / name))
    assert "\n" not in str(info.value)


def test_corrupt_file_that_opens_but_decodes_nothing():
    with pytest.raises(InputError, match=r"corrupt\.mp4 is corrupt or truncated: no frame could be decoded$"):
        open_source(str(DATA / "corrupt.mp4"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_real_permissions(tmp_path):
    path = tmp_path / "locked.mp4"
    shutil.copy(VIDEO, path)
    path.chmod(0)
    with pytest.raises(InputError, match=r"cannot read .*locked\.mp4: permission denied$"):
        open_source(str(path))


def test_unreadable_file_message(tmp_path, monkeypatch):
    # Runs as root here, where chmod 000 does not stop reading: simulate the OS refusal.
    path = tmp_path / "locked.mp4"
    shutil.copy(VIDEO, path)
    real_open = open

    def guarded(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded)
    with pytest.raises(InputError, match=r"cannot read .*locked\.mp4: permission denied$"):
        open_source(str(path))


def test_missing_camera_and_probe():
    if any(Path(f"/dev/video{i}").exists() for i in range(10)):
        pytest.skip("this machine has a camera")
    assert probe_camera_indices(5) == []
    with pytest.raises(InputError, match=r"^no camera at index 3 \(no camera found\)$"):
        open_source("3")


def test_unreachable_url_fails_fast_with_message():
    url = f"http://127.0.0.1:{closed_port()}/video"
    t0 = time.monotonic()
    with pytest.raises(InputError, match=rf"^could not connect to {url}: connection refused \(is the camera on"):
        open_source(url, open_timeout_s=1)
    assert time.monotonic() - t0 < 1.5


def test_hanging_url_respects_open_timeout():
    with SilentServer() as server:
        t0 = time.monotonic()
        with pytest.raises(InputError, match="could not connect to .* within 0.7 s"):
            open_source(server.url, open_timeout_s=0.7)
        took = time.monotonic() - t0
    assert 0.5 < took < 2.0, took


# --- channel -----------------------------------------------------------------------------


def test_latest_slot_keeps_only_the_newest_frame():
    slot = FrameChannel(latest_only=True)
    for i in range(5):
        assert slot.put(_frame(i))
    assert slot.get(0).index == 4
    assert slot.dropped == 4
    t0 = time.monotonic()
    assert slot.get(0.1) is None  # nothing newer than what was taken
    assert time.monotonic() - t0 >= 0.09

    threading.Timer(0.05, slot.put, args=(_frame(5),)).start()
    assert slot.get(1.0).index == 5  # wakes on put
    slot.put(_frame(6))
    slot.close()
    assert not slot.put(_frame(7))
    assert slot.get(0).index == 6  # a queued frame survives close
    assert slot.get(1.0) is None and slot.exhausted


def test_queue_mode_blocks_producer_and_stops_on_event():
    channel = FrameChannel(latest_only=False, maxsize=2)
    assert channel.put(_frame(0)) and channel.put(_frame(1))
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    assert channel.put(_frame(2), stop) is False  # blocked until stop
    assert 0.15 < time.monotonic() - t0 < 0.5
    threading.Timer(0.05, channel.get, args=(0,)).start()
    assert channel.put(_frame(3))  # room made by the consumer
    assert [channel.get(0).index for _ in range(2)] == [1, 3]
    assert channel.dropped == 0


def test_backoff_doubles_up_to_the_cap_with_jitter():
    import random

    rng = random.Random(1)
    # As the capture thread waits: 1 s doubling, capped at 30 s, 20 % jitter.
    delays = [backoff_delay(a + 1, base_s=1, cap_s=30, jitter=0.2, rng=rng.uniform) for a in range(8)]
    for got, base in zip(delays, [1, 2, 4, 8, 16, 30, 30, 30]):
        assert base * 0.8 <= got <= base * 1.2


# --- capture thread: files ---------------------------------------------------------------


def test_analysis_mode_keeps_every_frame_with_back_pressure():
    events = Events()
    thread = CaptureThread(str(VIDEO), realtime=False, queue_size=4, on_source_event=events)
    thread.start()
    assert thread.daemon and thread.name == "capture-file"
    frames = []
    while (frame := thread.channel.get(2.0)) is not None:
        frames.append(frame)
        if len(frames) % 10 == 0:
            time.sleep(0.01)  # a slow consumer: the reader must wait, not drop
    thread.join(1.0)
    assert [f.index for f in frames] == list(range(72))
    assert thread.channel.dropped == 0 and thread.channel.exhausted
    assert events.states() == ["opening", "open", "ended"]
    opened = events.items[1]
    assert (opened.width, opened.height, opened.fps) == (640, 360, 30.0)
    assert "72 frames" in events.items[-1].message


def test_realtime_file_playback_is_paced_at_its_fps():
    thread = CaptureThread(str(VIDEO), realtime=True)
    thread.start()
    frames = _drain(thread.channel, 31)
    _stop_and_join(thread)
    assert len(frames) >= 28  # a slot may skip a frame if this test thread is late
    span_media = frames[-1].media_time_s - frames[0].media_time_s
    span_wall = frames[-1].captured_monotonic - frames[0].captured_monotonic
    assert span_wall == pytest.approx(span_media, abs=0.1)  # ~1 s for 30 frames at 30 fps


def test_truncated_file_fails_and_keeps_what_was_read():
    events = Events()
    thread = CaptureThread(str(DATA / "truncated.avi"), realtime=False, on_source_event=events)
    thread.start()
    frames = _drain(thread.channel, 1000)
    thread.join(1.0)
    assert len(frames) == 25
    failed = events.wait_for("failed")
    assert "read 25 of 48 frames (the file looks truncated)" in failed.message
    assert thread.error == failed.message


def test_bad_file_reports_failed_and_closes_channel(tmp_path):
    events = Events()
    thread = CaptureThread(str(tmp_path / "nope.mp4"), on_source_event=events)
    thread.start()
    thread.join(2.0)
    assert events.states() == ["opening", "failed"]
    assert events.items[-1].message.startswith("video file not found")
    assert thread.error == events.items[-1].message
    assert thread.channel.get(0.1) is None and thread.channel.exhausted


def test_pause_and_resume_a_file():
    thread = CaptureThread(str(VIDEO), realtime=False, queue_size=2, loop=True)
    thread.start()
    assert len(_drain(thread.channel, 5)) == 5
    thread.pause()
    time.sleep(0.1)
    while thread.channel.get(0) is not None:  # what was queued before the pause
        pass
    assert thread.channel.get(0.3) is None
    thread.resume()
    assert thread.channel.get(1.0) is not None
    _stop_and_join(thread)


def test_stop_is_prompt_while_blocked_on_a_full_queue():
    thread = CaptureThread(str(VIDEO), realtime=False, queue_size=1)
    thread.start()
    time.sleep(0.3)  # it has filled the queue and waits for room
    assert _stop_and_join(thread) < 0.5


# --- capture thread: network streams -----------------------------------------------------


@pytest.fixture(scope="module")
def jpegs():
    return jpeg_frames_from_video(VIDEO, max_frames=30, width=320)


def test_mjpeg_stream_reconnects_after_the_camera_drops(jpegs):
    events = Events()
    with MjpegServer(jpegs, fps=30) as camera:
        thread = CaptureThread(camera.url, realtime=True, on_source_event=events, open_timeout_s=1.0,
                               reconnect_initial_backoff_s=0.3, reconnect_max_backoff_s=2.0)
        thread.start()
        first = events.wait_for("open")
        assert (first.width, first.height) == (320, 180)
        frames = _drain(thread.channel, 10)
        assert len(frames) == 10 and frames[0].image.shape == (180, 320, 3)

        camera.stop()
        t_drop = time.monotonic()
        reconnecting = events.wait_for("reconnecting", timeout=3.0)
        assert time.monotonic() - t_drop < 2.0
        assert reconnecting.message.startswith(f"lost {camera.url} (the stream was closed); retrying in")
        time.sleep(0.5)  # at least one more attempt fails against the closed port
        camera.start()
        events.wait_for("open", count=2, timeout=5.0)
        more = _drain(thread.channel, 10)
        assert len(more) == 10
        assert more[0].index > frames[-1].index  # indices and time go on across reconnects
        assert more[0].media_time_s > frames[-1].media_time_s
        assert thread.reconnects >= 1 and camera.connections >= 2
        assert _stop_and_join(thread) < 0.5
    assert events.items[-1].state == "ended" and events.items[-1].message == "stopped"


def test_live_sources_opened_on_one_clock_share_one_timeline(jpegs):
    # The capture thread's reconnects rely on this: the live clock is kept in one place.
    clock = LiveClock()
    assert clock.media_time_s(100.0) == 0.0 and clock.media_time_s(102.5) == 2.5
    shared = LiveClock()
    with MjpegServer(jpegs, fps=30) as camera:
        with open_source(camera.url, open_timeout_s=3.0, live_clock=shared) as first:
            before = [first.read() for _ in range(3)]
        time.sleep(0.2)
        with open_source(camera.url, open_timeout_s=3.0, live_clock=shared) as second:
            after = second.read()
        with open_source(camera.url, open_timeout_s=3.0) as own_clock:
            fresh = own_clock.read()
    assert before[0].media_time_s == 0.0
    assert after.media_time_s >= before[-1].media_time_s + 0.2
    assert fresh.media_time_s == 0.0  # a source alone starts its own timeline


def test_unreachable_stream_retries_then_stops_promptly():
    events = Events()
    url = f"http://127.0.0.1:{closed_port()}/video"
    thread = CaptureThread(url, on_source_event=events, open_timeout_s=1.0,
                           reconnect_initial_backoff_s=0.2, reconnect_max_backoff_s=5.0)
    t0 = time.monotonic()
    thread.start()
    second = events.wait_for("reconnecting", count=2, timeout=3.0)
    assert time.monotonic() - t0 < 1.5
    assert second.message.startswith(f"could not connect to {url}: connection refused (is the camera on")
    assert "; retrying in" in second.message
    time.sleep(0.2)  # now in a longer back-off wait
    assert _stop_and_join(thread) < 0.5
    assert "open" not in events.states()


def test_unreachable_stream_gives_up_after_max_attempts():
    events = Events()
    url = f"http://127.0.0.1:{closed_port()}/video"
    thread = CaptureThread(url, on_source_event=events, open_timeout_s=1.0,
                           reconnect_initial_backoff_s=0.1, max_attempts=2)
    thread.start()
    thread.join(3.0)
    assert events.states() == ["opening", "reconnecting", "failed"]
    assert events.items[-1].message == f"could not connect to {url}: connection refused (is the camera on, and are the address and port right?)"


def test_stalled_stream_hits_the_read_timeout_and_reconnects(jpegs):
    events = Events()
    with MjpegServer(jpegs, fps=30) as camera:
        thread = CaptureThread(camera.url, on_source_event=events, open_timeout_s=0.8,
                               reconnect_initial_backoff_s=0.2)
        thread.start()
        events.wait_for("open")
        assert len(_drain(thread.channel, 5)) == 5
        camera.frozen.set()  # connected, silent
        t0 = time.monotonic()
        reconnecting = events.wait_for("reconnecting", timeout=4.0)
        took = time.monotonic() - t0
        assert 0.5 < took < 2.5, took  # the 0.8 s read timeout, not a hang
        assert "no frame within 0.8 s" in reconnecting.message
        camera.frozen.clear()
        events.wait_for("open", count=2, timeout=5.0)
        assert len(_drain(thread.channel, 5)) == 5
        _stop_and_join(thread)
