"""The session lifecycle without a window (ui/session_controller.py): states and signals in
order, a failed start, a source that ends on its own, a start superseded while starting,
and the real SessionRun closing each session it started."""

from __future__ import annotations

import pytest

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.errors import ModelError
from crowdmood_gui.core.resources import DEMO_VIDEO
from crowdmood_gui.core.session_runner import SessionRun
from crowdmood_gui.core.sessions import is_locked
from crowdmood_gui.ui.session_controller import IDLE, PAUSED, RUNNING, STARTING, STOPPING, SessionController

from fakes import FakePipeline, session_factory

DEMO = str(DEMO_VIDEO)


@pytest.fixture
def controller(qtbot):
    made = []

    def make(factory=None):
        sessions = SessionController(factory or session_factory(lambda c, o: FakePipeline(c, o)))
        states: list[str] = []
        sessions.state_changed.connect(states.append)
        sessions.states = states
        made.append(sessions)
        return sessions

    yield make
    for sessions in made:
        sessions.closing = True
        sessions.shutdown(2.0)


def _config(**overrides):
    config = load_config()
    config.source.spec = DEMO
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_start_pause_resume_stop_in_order(controller, qtbot):
    sessions = controller()
    starting = []
    sessions.session_starting.connect(lambda bridge, config: starting.append((bridge, config.session)))
    sessions.start(_config(session="Booth Monday"))
    assert sessions.state == STARTING and starting and starting[0][1] == "Booth Monday"
    assert sessions.bridge is starting[0][0]
    qtbot.waitUntil(lambda: sessions.state == RUNNING, timeout=3000)
    pipeline = sessions.pipeline
    assert isinstance(pipeline, FakePipeline) and pipeline.started
    assert sessions.session_name == "Booth Monday" and sessions.active
    sessions.toggle_pause()
    assert sessions.state == PAUSED and pipeline.paused
    sessions.toggle_pause()
    assert sessions.state == RUNNING and not pipeline.paused
    with qtbot.waitSignal(sessions.stopped, timeout=3000):
        sessions.stop()
    assert pipeline.stopped and sessions.pipeline is None and sessions.state == IDLE
    assert sessions.states == [STARTING, RUNNING, PAUSED, RUNNING, STOPPING, IDLE]
    assert sessions.records_analysed() == pipeline.records_analysed


def test_a_start_that_fails_says_why_in_one_line(controller, qtbot):
    def broken(config, observer):
        raise ModelError("face_detector.onnx is missing")

    sessions = controller(session_factory(broken))
    with qtbot.waitSignal(sessions.start_failed, timeout=3000) as failed:
        sessions.start(_config())
    assert failed.args == ["face_detector.onnx is missing"]
    assert sessions.state == IDLE and sessions.bridge is None


def test_a_source_that_ends_on_its_own_returns_to_idle(controller, qtbot):
    sessions = controller()
    sessions.start(_config())
    qtbot.waitUntil(lambda: sessions.state == RUNNING, timeout=3000)
    with qtbot.waitSignal(sessions.ended, timeout=3000):
        sessions.pipeline.stop()  # what the end of a file does: on_finished from the pipeline
    assert sessions.state == IDLE and sessions.run is None


def test_a_second_start_stops_the_first_session_before_the_next(controller, qtbot):
    sessions = controller()
    sessions.start(_config(session="first"))
    sessions.start(_config(session="second"))  # superseded while starting
    qtbot.waitUntil(lambda: sessions.state == RUNNING and sessions.session_name == "second", timeout=3000)
    by_name = {p.config.session: p for p in FakePipeline.instances}  # built in two threads: any order
    first, second = by_name["first"], by_name["second"]
    qtbot.waitUntil(lambda: first.stopped, timeout=3000)
    assert second.config.session == "second" and not second.stopped
    sessions.start(_config(session="third"))
    qtbot.waitUntil(lambda: sessions.state == RUNNING and sessions.session_name == "third", timeout=3000)
    assert second.stopped


def test_the_default_session_is_named_as_shown_and_closed_when_stopped(controller, qtbot):
    """The folder is named after what the badge shows (booth and date), and is unlocked
    with its end time written once the controller says stopped."""

    def with_folder(config, observer):
        return SessionRun(config, observer, session=config.session,
                          pipeline_factory=lambda cfg, obs, **_kw: FakePipeline(cfg, obs))

    sessions = controller(with_folder)
    sessions.start(_config(session=None))
    qtbot.waitUntil(lambda: sessions.state == RUNNING, timeout=3000)
    session = sessions.last_session
    assert session is not None and is_locked(session)
    assert session.meta()["name"] == sessions.session_name
    with qtbot.waitSignal(sessions.stopped, timeout=3000):
        sessions.stop()
    assert not is_locked(session) and session.meta()["ended_at"]


def test_the_start_is_logged_with_the_source_as_the_operator_sees_it(controller, qtbot, caplog, tmp_path):
    # As on main: the console log names the file, not its full path, and a URL masked.
    sessions = controller()
    config = _config(session="Booth Monday")
    config.source.spec = str(tmp_path / "videos" / "demo.mp4")
    with caplog.at_level("INFO", logger="crowdmood_gui.ui.session_controller"):
        sessions.start(config)
        qtbot.waitUntil(lambda: sessions.state == RUNNING, timeout=3000)
    (line,) = [r.getMessage() for r in caplog.records if "started on" in r.getMessage()]
    assert line == "session 'Booth Monday' started on demo.mp4 (no video recorded)"
    sessions.stop()
    qtbot.waitUntil(lambda: sessions.state == IDLE, timeout=3000)
    caplog.clear()
    config = _config(session="Camera")
    config.source.spec = "rtsp://op:Pa55w0rd@10.0.0.7:554/live"
    with caplog.at_level("INFO", logger="crowdmood_gui.ui.session_controller"):
        sessions.start(config)
        qtbot.waitUntil(lambda: sessions.state == RUNNING, timeout=3000)
    (line,) = [r.getMessage() for r in caplog.records if "started on" in r.getMessage()]
    assert line == "session 'Camera' started on rtsp://op:***@10.0.0.7:554/live (no video recorded)"
