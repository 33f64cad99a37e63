"""Replay: record a real session (live pipeline + SessionRecorder), reopen it, seek, check
that the frame shown and the chart cursor agree; export it; analyse a video on the fly."""

from __future__ import annotations

import csv

import pytest

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.export import TIMELINE_COLUMNS
from crowdmood_gui.core.recording import recording_pipeline_factory
from crowdmood_gui.core.pipeline import NullObserver
from crowdmood_gui.ui.replay import ReplayData, ReplayWidget, ReplayWindow, analyse_and_replay, open_replay


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
    pipeline = recording_pipeline_factory(config, observer, record_video=True)
    pipeline.start()
    assert observer.finished.wait(30)
    assert os.path.exists(pipeline.session.video_path)
    return config, pipeline.session


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
    assert len(widget.data.index) == 72  # every frame of the file (30 fps <= cap)
    assert widget.data.timelines[1]
    widget.seek(2.0)
    _agree(widget)
    assert widget.video.last_boxes  # boxes from the analysis
    temp = job.temp_dir
    window.close()
    assert not temp.exists()
