"""Session video: MJPEG + index, crash safety (SIGKILL a recording process), recovery."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.events import FrameEvent, TrackBox
from crowdmood_gui.core.recording import SessionRecorder, VideoIndex, read_comment, recover
from crowdmood_gui.core.sessions import create_session, list_sessions, open_session


def _event(i: int, t: float, w: int = 1280, h: int = 720) -> FrameEvent:
    image = np.full((h, w, 3), (i * 7) % 255, np.uint8)
    image[:, : (i * 13) % w] = 200
    return FrameEvent(i, t, time.monotonic(), image, (TrackBox(3, 100, 100, 300, 340, 0.9, "HAPPY"),))


def test_recorder_caps_rate_and_size_and_the_index_reads_back(tmp_path):
    session = create_session(load_config(), "rec")
    rec = SessionRecorder(session, fps_cap=10, max_side=640, quality=80, block=True)
    accepted = sum(rec.write(_event(i, i / 30)) for i in range(90))  # 3 s at 30 fps
    stats = rec.close()
    assert 28 <= accepted <= 32 and stats.frames_written == accepted
    index = VideoIndex(session.path)
    assert len(index) == accepted
    frame = index.read(5)
    assert frame.shape == (360, 640, 3)
    [box] = index.boxes(5)
    assert (box.track_id, box.dominant) == (3, "HAPPY") and box.x1 == pytest.approx(50)  # scaled with the frame
    assert index.frame_at_time(1.0) == int(np.searchsorted(index.times, 1.0, side="right")) - 1
    assert read_comment(index.read_bytes(7))["n"] == 7
    index.close()


def test_write_never_blocks_the_display_thread(tmp_path):
    import threading

    session = create_session(load_config(), "drop")
    rec = SessionRecorder(session, fps_cap=1000, queue_size=2)
    disk_stalled = threading.Event()
    real_write = rec._encode_and_write
    rec._encode_and_write = lambda event: (disk_stalled.wait(30), real_write(event))  # a stalled disk
    results = []
    display = threading.Thread(target=lambda: results.extend(rec.write(_event(i, i / 1000, 640, 360)) for i in range(200)))
    display.start()
    display.join(10)  # would hang if write() waited for the stalled recorder
    finished = not display.is_alive()
    disk_stalled.set()
    rec.close()
    assert finished, "write() blocked the display thread"
    assert len(results) == 200 and results.count(True) <= 3  # the queue (2) and the frame in hand
    assert rec.stats.frames_dropped_queue == results.count(False)


def test_a_lagging_recorder_holds_no_4k_frame_and_loses_no_frame_it_queued(tmp_path):
    # Eight queued 4K frames were 200 MB: the queue now holds each frame at the recording's
    # size (960 px: 1.5 MB) and never a reference to the source frame; what it accepted is
    # all written, boxes scaled with the frame.
    import gc
    import threading
    import weakref

    session = create_session(load_config(), "lag4k")
    rec = SessionRecorder(session, fps_cap=1000, max_side=960)
    disk_stalled = threading.Event()
    real_write = rec._encode_and_write
    rec._encode_and_write = lambda item: (disk_stalled.wait(30), real_write(item))
    sources, accepted = [], []
    for i in range(12):
        event = _event(i, i / 30, 3840, 2160)
        sources.append(weakref.ref(event.image))
        accepted.append(rec.write(event))
        del event
    gc.collect()
    assert accepted.count(True) == 9  # the queue (8) and the frame in hand, as with small frames
    assert all(ref() is None for ref in sources)  # no source frame kept alive by the queue
    assert rec._queued_bytes <= 8 * 960 * 540 * 3
    disk_stalled.set()
    stats = rec.close()
    assert stats.frames_written == 9 and stats.frames_dropped_queue == 3
    index = VideoIndex(session.path)
    assert index.read(0).shape == (540, 960, 3)
    [box] = index.boxes(0)
    assert box.x1 == pytest.approx(100 * 960 / 3840) and box.y2 == pytest.approx(340 * 960 / 3840)
    index.close()


def test_shrinking_by_halves_gives_the_one_step_area_average():
    # 4K -> 960 px (the default recording) in halves: the 4x4 average, within rounding, even
    # on noise; to a size that is no whole factor (1000 px) a natural picture (smooth) comes
    # out the same within 2 levels; a frame already small enough is not touched.
    import cv2

    from crowdmood_gui.core.recording import shrink_frame

    noise = np.random.default_rng(3).integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:2160, 0:3840]
    smooth = np.dstack([(xx / 15) % 256, (yy / 9) % 256, (xx + yy) / 24 % 256]).astype(np.uint8)
    for image, max_side, size, tolerance in ((noise, 960, (960, 540), 1), (smooth, 1000, (1000, 562), 2)):
        small, scale = shrink_frame(image, max_side)
        assert (small.shape[1], small.shape[0]) == size and scale == max_side / 3840
        direct = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - direct.astype(int)).max() <= tolerance
    same, scale = shrink_frame(noise, 3840)
    assert same is noise and scale == 1.0


def test_the_queue_is_bounded_by_bytes_too(tmp_path):
    # A recording at full size (max_side 3840) gets as many 4K frames as the byte bound holds.
    import threading

    session = create_session(load_config(), "bytes")
    rec = SessionRecorder(session, fps_cap=1000, max_side=3840, queue_bytes=60 * 2**20)
    disk_stalled = threading.Event()
    real_write = rec._encode_and_write
    rec._encode_and_write = lambda item: (disk_stalled.wait(30), real_write(item))
    accepted = [rec.write(_event(i, i / 30, 3840, 2160)) for i in range(6)]
    held = rec._queued_bytes
    disk_stalled.set()
    stats = rec.close()
    assert held <= 60 * 2**20
    assert stats.frames_written == accepted.count(True) and 2 <= accepted.count(True) <= 3  # 1 in hand + 2 queued at most


def test_recover_indexes_an_unindexed_tail_and_cuts_a_torn_frame(tmp_path):
    session = create_session(load_config(), "tail")
    rec = SessionRecorder(session, fps_cap=100, block=True, commit_interval_s=1000)
    for i in range(10):
        rec.write(_event(i, i / 10, 320, 240))
    rec.close()  # commits 10 rows
    db = sqlite3.connect(session.db_path)
    db.execute("DELETE FROM frames WHERE n >= 6")  # as if the last commit never happened
    db.commit()
    db.close()
    with session.video_path.open("ab") as handle:
        handle.write(b"\xff\xd8\xff\xfe\x00\x10{\"n\":10,\"t\"")  # a frame torn by SIGKILL
    report = recover(session.path)
    assert (report.recovered, report.truncated_bytes) == (4, 17)
    index = VideoIndex(session.path)
    assert len(index) == 10 and index.times[9] == pytest.approx(0.9)
    assert all(index.read(n) is not None for n in range(10))
    # Recording again appends after the recovered frames.
    rec = SessionRecorder(session, fps_cap=100, block=True)
    rec.write(_event(10, 1.0, 320, 240))
    rec.close()
    assert len(VideoIndex(session.path)) == 11


CHILD = textwrap.dedent(
    """
    import sys, time
    from crowdmood_gui.core.config import load_config
    from crowdmood_gui.core.pipeline import NullObserver
    from crowdmood_gui.core.session_runner import SessionRun

    class Out(NullObserver):
        last = 0.0
        def on_frame(self, event):
            if event.media_time_s - self.last >= 0.1:
                self.last = event.media_time_s
                print(f"t {event.media_time_s:.3f}", flush=True)

    config = load_config(None, {"source": {"spec": sys.argv[1], "loop": True}, "session": "crash test",
                                "sampling": {"interval_s": 0.5}})
    run = SessionRun(config, Out(), session=config.session, record_video=True)
    print("session", run.session.id, flush=True)
    run.start()
    time.sleep(120)
    """
)


@pytest.mark.slow
def test_a_killed_recording_keeps_everything_up_to_the_last_second(tmp_path, data_dir):
    script = tmp_path / "record.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(data_dir / "single_face.mp4")],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    last_t = 0.0
    try:
        line = proc.stdout.readline()
        assert line.startswith("session "), line
        session_id = line.split()[1]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("t "):
                last_t = float(line.split()[1])
            if last_t >= 4.5:  # nearly two loops of the 2.4-s file: records, timeline, video
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    config = load_config()
    [info] = list_sessions(config)
    assert info.id == session_id and not info.recording  # the dead process's lock is stale
    session = open_session(config, session_id)
    store = session.open_store()
    try:
        records = list(store.records())
        timeline = store.timeline(1)
    finally:
        store.close()
    assert len(records) >= 3
    assert timeline and timeline[-1].t >= last_t - 2.0  # committed about once a second
    index = VideoIndex(session.path)  # recovers the unindexed tail
    assert len(index) >= 30
    assert index.times[-1] >= last_t - 1.5
    for n in (0, len(index) // 2, len(index) - 1):
        assert index.read(n) is not None, n
    # The MJPEG itself is a clean stream: OpenCV's FFmpeg demuxer reads it frame by frame.
    import cv2

    cap = cv2.VideoCapture(str(session.video_path), cv2.CAP_FFMPEG)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame is not None


def test_a_failed_write_is_cut_back_and_later_frames_stay_decodable(tmp_path):
    import errno

    session = create_session(load_config(), "torn")
    rec = SessionRecorder(session, fps_cap=1000, max_side=320, quality=70, block=True)
    real = rec._file

    class FullOnce:
        """Writes half of one frame, then fails like a full disk."""

        def __init__(self):
            self.failed = False

        def write(self, data):
            if not self.failed and rec.stats.frames_written == 3:
                self.failed = True
                real.write(bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, "No space left on device")
            return real.write(data)

        def __getattr__(self, name):
            return getattr(real, name)

    rec._file = FullOnce()
    for i in range(8):
        rec.write(_event(i, i / 10, 640, 360))
    stats = rec.close()
    assert stats.errors == 1 and stats.frames_written == 7
    index = VideoIndex(session.path, recover_tail=False)
    assert len(index) == 7
    for n in range(7):  # every indexed frame decodes: none points into the torn bytes
        assert index.read(n).shape == (180, 320, 3)
    index.close()
