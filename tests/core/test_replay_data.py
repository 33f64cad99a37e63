"""Replay's loading, without a window (core/replay_data.py): a path or an id -> the session's
video index, timelines, box labels, meta and duration; a video file analysed into a
temporary session first (its length probed by core/capture.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from crowdmood_gui.core.aggregation import TimelineAggregator
from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.events import TrackBox
from crowdmood_gui.core.records import CaptureMeta, FaceRecord, FaceResult
from crowdmood_gui.core.recording import FRAMES_SCHEMA, with_comment
from crowdmood_gui.core.capture import video_duration_s
from crowdmood_gui.core.replay_data import ReplayData, VideoAnalysis, replay_target
from crowdmood_gui.core.sessions import Session, create_session

START = datetime(2025, 1, 1, 18, tzinfo=UTC)


def _record(key: str, track_id: int, t: float, dominant: str) -> FaceRecord:
    emotions = {name: 0.0 for name in ("HAPPY", "SAD", "CALM")}
    emotions[dominant] = 90.0
    face = FaceResult({"Left": 0.2, "Top": 0.2, "Width": 0.3, "Height": 0.3}, emotions, dominant, 99.0)
    return FaceRecord(key, CaptureMeta("s", "booth-1", START + timedelta(seconds=t), track_id), (face,))


def make_session(config, *, seconds: int = 30, frames: int = 0):
    """A session of ``seconds`` 1-s rows, track 1 read HAPPY at 2 s and SAD at 20 s, and
    ``frames`` recorded frames (one per second) when asked."""
    session = create_session(config, "replay data", lock=False)
    store = session.open_store()
    agg = TimelineAggregator()
    for key, t, dominant in (("a", 2.0, "HAPPY"), ("b", 20.0, "SAD")):
        record = _record(key, 1, t, dominant)
        store.add_record(record, t)
        agg.add_record(t, record)
    for t in range(seconds):
        agg.observe_frame(float(t), 1, [1])
    for period in agg.periods:
        store.upsert_timeline(agg.rows(period))
    store.set_meta(name="replay data", started_at=START.isoformat())
    store.close()
    if frames:
        jpeg = cv2.imencode(".jpg", np.full((90, 160, 3), 80, np.uint8))[1].tobytes()
        rows, offset = [], 0
        box = [[1, 10.0, 10.0, 60.0, 60.0, 0.9, None]]
        with session.video_path.open("wb") as video:
            for n in range(frames):
                data = with_comment(jpeg, {"n": n, "t": float(n), "i": n, "b": box})
                video.write(data)
                rows.append((n, offset, len(data), float(n), n, json.dumps(box)))
                offset += len(data)
        db = sqlite3.connect(session.db_path)
        db.executescript(FRAMES_SCHEMA)
        db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.commit()
        db.close()
    return session


def test_a_path_or_an_id_names_a_session_or_a_video_to_analyse(data_dir, tmp_path):
    config = load_config()
    session = make_session(config)
    assert replay_target(config, session) is session
    assert replay_target(config, session.id).path == session.path
    assert replay_target(config, "replay data").path == session.path  # by its display name
    by_folder = replay_target(config, str(session.path))
    assert isinstance(by_folder, Session) and by_folder.path == session.path
    video = data_dir / "single_face.mp4"
    assert replay_target(config, video) == video
    with pytest.raises(InputError):
        replay_target(config, "no-such-session")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no session"):
        ReplayData.load(Session(id="empty", path=empty))


def test_a_session_without_video_loads_its_timelines_labels_and_duration():
    config = load_config()
    data = ReplayData.load(replay_target(config, make_session(config, seconds=30).id))
    try:
        assert data.meta["name"] == "replay data"
        assert len(data.timelines[1]) == 30 and data.timelines[10] and data.timelines[60]
        assert data.duration_s == pytest.approx(30)  # the last 1-s row + 1 s: no video
        assert len(data.index) == 0
        assert data.default_period() == 1
        # the dominant expression on the box, as it was shown live: none before the first crop
        assert data.label(1, 0.5) is None
        assert data.label(1, 5.0) == "HAPPY"
        assert data.label(1, 19.0) == "HAPPY" and data.label(1, 25.0) == "SAD"  # after the second crop
        assert data.label(2, 5.0) is None  # no such person
    finally:
        data.close()


def test_recorded_boxes_get_the_label_they_had_live():
    config = load_config()
    data = ReplayData.load(make_session(config, seconds=30, frames=10))
    try:
        assert len(data.index) == 10 and data.duration_s == pytest.approx(30)  # the chart is longer
        event = data.index.event(data.index.frame_at_time(5.0))
        shown = data.boxes_at(event.tracks, event.media_time_s)
        assert [b.track_id for b in shown] == [1] and shown[0].dominant == "HAPPY"
        kept = TrackBox(7, 0.0, 0.0, 5.0, 5.0, 0.9, "CALM")
        assert data.boxes_at((kept,), 5.0) == (kept,)  # a box recorded with its label keeps it
    finally:
        data.close()
    assert data.index._file is None  # close() released the video


def test_a_video_is_probed_for_its_length_and_anything_else_refused_in_one_line(data_dir, tmp_path):
    assert video_duration_s(str(data_dir / "single_face.mp4")) == pytest.approx(2.4)  # 72 frames at 30 fps
    for name, reason in (("single_face.jpg", "is a JPEG image, not a video"),
                         ("corrupt.mp4", "is corrupt or truncated"),
                         ("missing.mp4", "video file not found")):
        with pytest.raises(InputError, match=reason):
            video_duration_s(str(data_dir / name))
    (tmp_path / "notes.mp4").write_text("not a video at all\n")
    with pytest.raises(InputError, match="is not a video file"):
        video_duration_s(str(tmp_path / "notes.mp4"))


@pytest.mark.slow
def test_a_video_is_analysed_into_a_temporary_session_that_replays(data_dir):
    analysis = VideoAnalysis(load_config(), data_dir / "single_face.mp4")
    assert analysis.run() > 0  # faces analysed
    assert analysis.total_s == pytest.approx(2.4) and analysis.media_s == pytest.approx(2.4, abs=0.1)
    data = ReplayData.load(analysis.session)
    try:
        assert data.meta["analysed_offline"] and data.meta["record_video"]
        assert data.timelines[1] and data.index.duration_s > 2.0
    finally:
        data.close()
    analysis.remove()
    assert not analysis.temp_dir.exists()


def test_a_cancelled_analysis_stops_as_soon_as_it_starts_and_a_non_video_fails_in_one_line(data_dir, tmp_path):
    analysis = VideoAnalysis(load_config(), data_dir / "single_face.mp4")
    analysis.cancel()
    analysis.run()  # stopped before the first frame: returns at once
    assert analysis.cancelled and analysis.session_run is not None and analysis.session_run.ended
    analysis.remove()
    (tmp_path / "talk.mp4").write_bytes(b"")
    broken = VideoAnalysis(load_config(), tmp_path / "talk.mp4")
    with pytest.raises(InputError, match=r"talk\.mp4 is empty"):
        broken.run()
    assert broken.session_run is None  # nothing was started
    broken.remove()
