"""Replay: record a real session (live pipeline + SessionRecorder), reopen it, seek, check
that the frame shown and the chart cursor agree; export it; analyse a video on the fly."""

from __future__ import annotations

import csv
import threading

import pytest

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.export import TIMELINE_COLUMNS
from crowdmood_gui.core.pipeline import NullObserver
from crowdmood_gui.core.replay_data import ReplayData
from crowdmood_gui.core.session_runner import SessionRun
from crowdmood_gui.ui.replay import ReplayWidget, analyse_and_replay, open_replay


class _Done(NullObserver):
    def __init__(self):
        import threading

        self.finished = threading.Event()

    def on_finished(self):
        self.finished.set()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One real recorded session (2.4 s of single_face.mp4, live pace), shared by the tests."""
    import os
    from pathlib import Path

    home = tmp_path_factory.mktemp("replay-home")
    data = Path(__file__).parents[1] / "data"
    config = load_config(None, {"home": str(home), "source": {"spec": str(data / "single_face.mp4"), "loop": False},
                                "session": "booth replay"})
    observer = _Done()
    run = SessionRun(config, observer, session=config.session, record_video=True)
    run.start()
    assert observer.finished.wait(30)
    assert os.path.exists(run.session.video_path)
    return config, run.session


def _agree(widget: ReplayWidget) -> None:
    index = widget.data.index
    n = widget.current_frame_index
    cursor = widget.chart.cursor_position()
    shown = widget.video.current_frame
    assert shown is not None and shown.frame_index == n
    assert n == index.frame_at_time(cursor)
    assert index.times[n] <= cursor + 1e-9
    if n + 1 < len(index):
        assert cursor < index.times[n + 1]
    assert abs(cursor - widget.position) < 1e-9
    assert abs(widget.slider.value() / 1000 - cursor) <= 0.001


def test_replay_of_a_recorded_session_keeps_frame_and_cursor_in_step(qtbot, recorded):
    config, session = recorded
    widget = ReplayWidget()
    qtbot.addWidget(widget)
    widget.load_session(session)
    widget.show()
    data = widget.data
    assert len(data.index) >= 20  # 15 fps cap over 2.4 s
    assert data.timelines[1], "the stored timeline is loaded"
    assert widget.current_frame_index == 0
    for t in (1.0, 0.35, 2.0, data.duration_s, 0.0):
        widget.seek(t)
        _agree(widget)
    # Boxes as they were shown live: the one face, with its track id.
    widget.seek(1.5)
    assert widget.video.last_boxes and widget.video.last_boxes[0].track_id >= 1
    # Seeking by dragging the chart emits seek_requested with the x position.
    widget.chart.seek_requested.emit(1.2)
    _agree(widget)
    assert widget.position == pytest.approx(1.2)
    # Step frames.
    before = widget.current_frame_index
    widget.step(1)
    assert widget.current_frame_index == before + 1
    _agree(widget)
    widget.step(-2)
    assert widget.current_frame_index == before - 1
    _agree(widget)


def test_playback_advances_at_the_chosen_speed_and_stops_at_the_end(qtbot, recorded):
    _config, session = recorded
    widget = ReplayWidget()
    qtbot.addWidget(widget)
    widget.load_session(session)
    widget.set_speed(8.0)
    widget.play()
    assert widget.playing
    qtbot.waitUntil(lambda: not widget.playing, timeout=3000)
    assert widget.position == pytest.approx(widget.data.duration_s)
    assert widget.current_frame_index == len(widget.data.index) - 1
    _agree(widget)
    widget.set_speed(0.25)
    widget.seek(0.5)
    widget.play()
    qtbot.wait(400)
    widget.pause()
    assert 0.55 <= widget.position <= 0.75  # 0.4 s of wall time at 0.25×
    _agree(widget)


def test_replay_window_exports_csv_that_reads_back(qtbot, recorded, tmp_path):
    config, session = recorded
    window = open_replay(None, config, session.id)  # closed (and deleted) below
    assert window.loading  # read off the GUI thread
    qtbot.waitUntil(lambda: window.replay.data is not None, timeout=5000)
    written = window.export_to(tmp_path / "out")
    assert set(written) == {"timeline.csv", "faces.csv", "chart.png", "summary.html"}
    with written["timeline.csv"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == TIMELINE_COLUMNS
    assert rows[0]["t"] == "0" and int(rows[0]["faces"]) == 1
    with written["faces.csv"].open() as handle:
        faces = list(csv.DictReader(handle))
    assert faces and faces[0]["dominant"]
    window.close()


def test_a_session_without_video_replays_its_chart(qtbot, tmp_path):
    from crowdmood_gui.core.sessions import create_session

    config = load_config()
    session = create_session(config, "no video", lock=False)
    from crowdmood_gui.core.aggregation import TimelineAggregator

    agg = TimelineAggregator()
    for t in range(30):
        agg.observe_frame(float(t), 2, [1, 2])
    store = session.open_store()
    for p in agg.periods:
        store.upsert_timeline(agg.rows(p))
    store.close()
    widget = ReplayWidget()
    qtbot.addWidget(widget)
    widget.load(ReplayData.load(session))
    assert widget.data.duration_s == pytest.approx(30)
    widget.seek(12.5)
    assert widget.chart.cursor_position() == pytest.approx(12.5)
    assert widget.current_frame_index == -1
    assert "no recorded video" in widget.video.placeholder


@pytest.mark.slow
def test_a_video_file_is_analysed_then_replayed(qtbot, data_dir):
    config = load_config()
    windows = []
    job = analyse_and_replay(None, config, data_dir / "single_face.mp4", on_window=windows.append)
    qtbot.waitUntil(lambda: bool(windows), timeout=30000)
    window = windows[0]  # closed (and deleted) below
    widget = window.replay
    qtbot.waitUntil(lambda: widget.data is not None, timeout=5000)
    assert window.windowTitle() == "Replay: single_face.mp4 (analysed)"
    assert len(widget.data.index) == 72  # every frame of the file (30 fps <= cap)
    assert widget.data.timelines[1]
    widget.seek(2.0)
    _agree(widget)
    assert widget.video.last_boxes  # boxes from the analysis
    temp = job.temp_dir
    window.close()
    assert not temp.exists()


def make_two_hour_session(config, frames: int = 4000, index_rows: int | None = None):
    """A synthetic 2-hour session: 7200 1-s timeline rows (and 10-s, 60-s), 3600 records,
    an MJPEG of ``frames`` small frames spread over 2 h (``index_rows`` > frames: extra
    index rows reuse those bytes, to measure a 15-fps index of 108 000 rows)."""
    import json
    import sqlite3
    from datetime import UTC, datetime, timedelta

    import cv2
    import numpy as np

    from crowdmood_gui.core.aggregation import TimelineAggregator
    from crowdmood_gui.core.emotions import EMOTIONS
    from crowdmood_gui.core.records import CaptureMeta, FaceRecord, FaceResult
    from crowdmood_gui.core.recording import FRAMES_SCHEMA, with_comment
    from crowdmood_gui.core.sessions import create_session, mark_ended

    session = create_session(config, "two hours", lock=False)
    rng = np.random.default_rng(1)
    start = datetime(2025, 1, 1, 18, tzinfo=UTC)
    agg = TimelineAggregator()
    store = session.open_store()
    for i in range(3600):
        t = i * 2.0 + 0.5
        vec = rng.dirichlet(np.ones(len(EMOTIONS))) * 100
        emotions = dict(zip(EMOTIONS, map(float, vec)))
        face = FaceResult({"Left": 0.2, "Top": 0.2, "Width": 0.3, "Height": 0.3}, emotions, max(emotions, key=emotions.get), 99.0)
        record = FaceRecord(f"k{i}", CaptureMeta("two-hours", "booth-1", start + timedelta(seconds=t), i % 40), (face,))
        store.add_record(record, t)
        agg.add_record(t, record)
    for s in range(7200):
        agg.observe_frame(float(s), 3, [s % 40, (s + 1) % 40, (s + 2) % 40])
    for p in agg.periods:
        store.upsert_timeline(agg.rows(p))
    store.set_meta(started_at=start.isoformat())
    store.close()
    jpegs = []
    for k in range(16):
        image = np.full((270, 480, 3), 30 + k * 12, np.uint8)
        cv2.putText(image, str(k), (200, 150), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        jpegs.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    rows, offset = [], 0
    box = json.dumps([[1, 150.0, 60.0, 300.0, 240.0, 0.99, "HAPPY"]])
    with session.video_path.open("wb") as video:
        for n in range(frames):
            t = n * 7200.0 / frames
            data = with_comment(jpegs[n % 16], {"n": n, "t": t, "i": n, "b": json.loads(box)})
            video.write(data)
            rows.append((n, offset, len(data), t, n, box))
            offset += len(data)
    total = index_rows or frames
    for n in range(frames, total):  # extra rows reuse existing bytes (index size only)
        src = rows[n % frames]
        rows.append((n, src[1], src[2], n * 7200.0 / total, n, box))
    if index_rows:
        rows = [(n, r[1], r[2], n * 7200.0 / total, n, box) for n, r in enumerate(rows)]
    db = sqlite3.connect(session.db_path)
    db.executescript(FRAMES_SCHEMA)
    db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    mark_ended(session, start + timedelta(hours=2))
    return session


@pytest.mark.parametrize("index_rows", [None, 108_000], ids=["4000-frames", "108k-index"])
def test_a_two_hour_session_opens_under_2s_and_seeks_under_200ms(qtbot, index_rows):
    import random
    import time

    config = load_config()
    session = make_two_hour_session(config, index_rows=index_rows)
    started = time.perf_counter()
    window = open_replay(None, config, session)  # load (in the background) + first frame + chart
    with qtbot.waitSignal(window.loaded, timeout=5000):
        pass
    qtbot.waitExposed(window)
    open_s = time.perf_counter() - started
    widget = window.replay
    assert widget.data.duration_s == pytest.approx(7200)
    times = []
    rnd = random.Random(3)
    for _ in range(50):
        t = rnd.uniform(0, 7200)
        started = time.perf_counter()
        widget.seek(t)
        widget.repaint()  # include painting the frame and the cursor
        times.append(time.perf_counter() - started)
        _agree(widget)
    times.sort()
    print(f"\n2-hour session ({len(widget.data.index)} index rows): open {open_s * 1000:.0f} ms, "
          f"seek median {times[25] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")
    window.close()
    assert open_s < 2.0
    assert times[-1] < 0.2


def test_quitting_during_a_video_analysis_stops_and_cleans_it_up(qtbot, data_dir):
    """The analysis thread is not left to be killed mid-write when the app quits."""
    config = load_config()
    windows = []
    job = analyse_and_replay(None, config, data_dir / "single_face.mp4", on_window=windows.append)
    qtbot.waitUntil(lambda: job.session_run is not None, timeout=10000)
    job.shutdown(2.0)  # what aboutToQuit runs
    assert not job.thread.is_alive()
    assert not job.temp_dir.exists()
    qtbot.wait(200)
    assert windows == []  # cancelled: no replay window opens afterwards


def test_cancel_stops_the_video_analysis_and_opens_no_replay(qtbot, data_dir):
    """Cancel in the progress dialog stops the pipeline off the GUI thread (ui/tasks.py)."""
    config = load_config()
    windows = []
    job = analyse_and_replay(None, config, data_dir / "single_face.mp4", on_window=windows.append)
    qtbot.waitUntil(lambda: job.session_run is not None, timeout=10000)
    stopped_on, stop = [], job.session_run.stop
    job.session_run.stop = lambda timeout_s: stopped_on.append(threading.current_thread()) or stop(timeout_s)
    job.cancel()
    qtbot.waitUntil(lambda: not job.thread.is_alive() and not job.temp_dir.exists(), timeout=15000)
    assert stopped_on and stopped_on[0] is not threading.main_thread()
    assert job.cancelled and windows == []


def test_a_session_that_cannot_be_read_says_so_and_the_app_goes_on(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from crowdmood_gui.ui import replay as replay_module

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append((title, text)))
    folder = tmp_path / "broken-session"
    folder.mkdir()
    (folder / "session.db").write_bytes(b"this is not an SQLite database" * 100)
    window = open_replay(None, load_config(), folder)
    destroyed = []
    window.destroyed.connect(lambda *_: destroyed.append(True))
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    title, text = shown[0]
    assert title == "Cannot open the session"
    assert str(folder) in text and "not a database" in text
    qtbot.waitUntil(lambda: bool(destroyed), timeout=2000)  # the empty window went away
    assert not any(isinstance(w, replay_module.ReplayWindow) for w in replay_module._open_windows)


def _temp_copy_window(config, session, tmp_path, monkeypatch, *, gate=None):
    """A replay window on a temporary copy of ``session`` (as for an analysed video file),
    reading it through a ReplayData.load that waits for ``gate`` and records its result."""
    import shutil

    from crowdmood_gui.core.sessions import Session
    from crowdmood_gui.ui import replay as replay_module

    temp_dir = tmp_path / "crowdmood-replay-test"
    shutil.copytree(session.path, temp_dir / "session")
    loaded, real_load = [], replay_module.ReplayData.load

    def load(s):
        if gate is not None:
            gate.wait(5)
        data = real_load(s)
        loaded.append(data)
        return data

    monkeypatch.setattr(replay_module.ReplayData, "load", staticmethod(load))
    window = replay_module.ReplayWindow(config, temp_dir=temp_dir)
    emitted = []
    window.loaded.connect(lambda: emitted.append(True))
    window.open_in_background(Session(id="session", path=temp_dir / "session"))
    window.show()
    return window, temp_dir, loaded, emitted


def test_a_window_closed_while_opening_releases_the_video_and_its_folder(qtbot, recorded, tmp_path, monkeypatch):
    config, session = recorded
    gate = threading.Event()
    window, temp_dir, loaded, emitted = _temp_copy_window(config, session, tmp_path, monkeypatch, gate=gate)
    window.close()  # before the session is read (WA_DeleteOnClose)
    assert temp_dir.exists()  # not removed under the reader (it would be re-created, then leaked)
    gate.set()
    qtbot.waitUntil(lambda: bool(loaded), timeout=5000)
    assert len(loaded[0].index) > 0  # a recorded video, so an open file to release
    qtbot.waitUntil(lambda: loaded[0].index._file is None and not temp_dir.exists(), timeout=2000)
    assert emitted == []


def test_a_window_closed_just_as_the_session_arrives_does_not_show_it(qtbot, recorded, tmp_path, monkeypatch):
    import time

    config, session = recorded
    window, temp_dir, loaded, emitted = _temp_copy_window(config, session, tmp_path, monkeypatch)
    deadline = time.monotonic() + 5
    while not loaded and time.monotonic() < deadline:  # no Qt events: the result stays queued
        time.sleep(0.01)
    time.sleep(0.1)
    window.close()  # closed, deleted later: the queued result arrives first
    qtbot.waitUntil(lambda: not temp_dir.exists(), timeout=3000)
    assert loaded[0].index._file is None
    assert emitted == []
