"""One session runner (issue #17): every way a session ends closes it exactly once (recorder
flushed, ``ended_at`` written, lock released) before the observer hears ``on_finished``; the
console, ``analyze`` and ``agent`` all go through it and leave the same session meta."""

from __future__ import annotations

import inspect
import json
import threading

import pytest

from crowdmood_gui.cli import main
from crowdmood_gui.core import session_runner
from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.errors import ModelError, StorageError
from crowdmood_gui.core.events import StatsEvent, TimelineRow
from crowdmood_gui.core.pipeline import NullObserver, Pipeline, PipelineControl, PipelineObserver
from crowdmood_gui.core.session_runner import SessionRun
from crowdmood_gui.core.sessions import is_locked, list_sessions, open_session


class Watcher(NullObserver):
    """Notes, at ``on_finished``, whether the session was already closed on disk."""

    def __init__(self, raise_on_finished: bool = False) -> None:
        self.finished = threading.Event()
        self.finished_calls = 0
        self.seen_at_finish: dict | None = None
        self.run: SessionRun | None = None
        self.raise_on_finished = raise_on_finished

    def on_finished(self) -> None:
        self.finished_calls += 1
        session = self.run.session if self.run is not None else None
        if session is not None:
            self.seen_at_finish = {"ended_at": session.meta().get("ended_at"), "locked": is_locked(session),
                                   "recorder_closed": self.run.recorder is None or self.run.recorder._closed}
        self.finished.set()
        if self.raise_on_finished:
            raise RuntimeError("an observer bug")


class StubPipeline:
    """A pipeline without models: ``finish()`` plays the source's end (from another thread)."""

    def __init__(self, config, observer: PipelineObserver, *, fail_start: bool = False, **_kwargs) -> None:
        self.observer = observer
        self.fail_start = fail_start
        self.records_analysed = self.frames_processed = 0
        self.source_error = None
        self._finished = False
        self._lock = threading.Lock()

    def mean_detect_ms(self) -> float | None:
        return None

    def timeline_rows(self, period_s: int) -> list[TimelineRow]:
        return []

    def start(self) -> None:
        if self.fail_start:
            raise ModelError("the detector model cannot load")

    def run(self, progress=None) -> None:
        self.start()
        self.finish()

    def finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self.observer.on_finished()

    def stop(self, timeout_s: float = 2.0) -> None:
        self.finish()

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_privacy(self, blur_faces: bool) -> None: ...

    def set_chart_period(self, period_s: int) -> None: ...

    def stats(self) -> StatsEvent:
        return StatsEvent(detection_fps=0.0, faces=0, tracks=0, analysis_queue=0, records_analysed=0)


@pytest.fixture
def ends(monkeypatch):
    """Counts the sessions marked ended (``ended_at`` written, lock released)."""
    calls: list[str] = []
    real = session_runner.mark_ended

    def counting(session, *args, **kwargs):
        calls.append(session.id)
        return real(session, *args, **kwargs)

    monkeypatch.setattr(session_runner, "mark_ended", counting)
    return calls


def _config(data_dir, **overrides):
    return load_config(None, {"source": {"spec": str(data_dir / "single_face.mp4"), "loop": False}, **overrides})


def _stub_run(data_dir, watcher, **stub):
    run = SessionRun(_config(data_dir), watcher, session="booth stub", record_video=True,
                     pipeline_factory=lambda config, observer, **kw: StubPipeline(config, observer, **stub))
    watcher.run = run
    return run


def _assert_closed(run: SessionRun, watcher: Watcher, ends: list[str]) -> None:
    assert ends == [run.session.id] and run.ended_count == 1
    assert watcher.finished_calls == 1
    assert watcher.seen_at_finish is not None
    assert watcher.seen_at_finish["ended_at"] and not watcher.seen_at_finish["locked"]
    assert watcher.seen_at_finish["recorder_closed"]
    assert not is_locked(run.session) and run.session.meta()["ended_at"]


def test_the_real_pipeline_and_the_stub_are_pipeline_controls(data_dir):
    config = _config(data_dir)
    assert isinstance(Pipeline(config), PipelineControl)
    assert isinstance(StubPipeline(config, NullObserver()), PipelineControl)
    assert isinstance(Watcher(), PipelineObserver)
    assert not isinstance(object(), PipelineControl)


PROTOCOL_MEMBERS = sorted(name for name in vars(PipelineControl) if not name.startswith("_"))


class ProtocolOnly:
    """A pipeline seen through :class:`PipelineControl` alone: any other attribute a caller
    reads raises, so a caller that needs more than the protocol fails here."""

    def __init__(self, pipeline: PipelineControl) -> None:
        object.__setattr__(self, "_pipeline", pipeline)

    def __getattr__(self, name: str):
        if name not in PROTOCOL_MEMBERS:
            raise AttributeError(f"{name} is not part of PipelineControl")
        return getattr(object.__getattribute__(self, "_pipeline"), name)


@pytest.mark.parametrize("implementation", [Pipeline, StubPipeline])
def test_pipeline_controls_take_the_protocols_arguments(implementation):
    assert {"frames_processed", "mean_detect_ms", "timeline_rows", "records_analysed", "stop"} <= set(PROTOCOL_MEMBERS)
    for name in PROTOCOL_MEMBERS:
        declared, implemented = getattr(PipelineControl, name), getattr(implementation, name, None)
        if isinstance(declared, property):  # a property, or a plain attribute set in __init__
            assert implemented is None or isinstance(implemented, property), name
            continue
        assert callable(implemented), name
        wanted = list(inspect.signature(declared).parameters)
        assert list(inspect.signature(implemented).parameters)[:len(wanted)] == wanted, name


@pytest.mark.slow
def test_analyze_and_agent_need_nothing_but_pipeline_control(data_dir, tmp_path, monkeypatch, capsys):
    """``SessionRun.pipeline`` is typed :class:`PipelineControl`: its callers read nothing
    else (the real pipeline runs behind a view of the protocol alone)."""
    real = session_runner.Pipeline
    built: list[ProtocolOnly] = []

    def protocol_only(config, observer, **kwargs):
        built.append(ProtocolOnly(real(config, observer, **kwargs)))
        return built[-1]

    monkeypatch.setattr(session_runner, "Pipeline", protocol_only)
    with pytest.raises(AttributeError, match="aggregator is not part of PipelineControl"):
        ProtocolOnly(real(_config(data_dir))).aggregator
    source = str(data_dir / "single_face.mp4")
    out = tmp_path / "timeline.csv"
    assert main(["analyze", source, "--out", str(out), "--period", "1"]) == 0
    rows = out.read_text().splitlines()
    assert len(rows) > 2 and rows[0].startswith("t,")  # the rows came through timeline_rows
    stats = tmp_path / "agent.json"
    assert main(["agent", "--source", source, "--camera", "booth-a", "--session", "agent", "--exit-after", "2",
                 "--stats-out", str(stats)]) == 0
    figures = json.loads(stats.read_text())
    assert figures["frames"] > 0 and figures["detect_ms_mean"] > 0  # frames_processed, mean_detect_ms
    assert len(built) == 2


@pytest.mark.slow
def test_the_source_ending_ends_the_session_once_before_on_finished(data_dir, ends):
    watcher = Watcher()
    run = SessionRun(_config(data_dir), watcher, session="booth end", record_video=True)
    watcher.run = run
    run.start()
    assert run.wait(60) and watcher.finished.wait(5)
    run.stop(2.0)  # after the end: nothing more happens
    _assert_closed(run, watcher, ends)
    assert run.recorder.stats.frames_written > 0 and run.end_errors == []


@pytest.mark.slow
def test_stop_ends_the_session_once_before_on_finished(data_dir, ends):
    watcher = Watcher()
    run = SessionRun(_config(data_dir, source={"spec": str(data_dir / "single_face.mp4"), "loop": True}), watcher,
                     session="booth stop", record_video=True)
    watcher.run = run
    run.start()
    run.stop(2.0)
    assert run.ended  # stop returns with the session closed
    run.stop(2.0)
    _assert_closed(run, watcher, ends)


def test_stopping_from_two_threads_ends_once(data_dir, ends):
    watcher = Watcher()
    run = _stub_run(data_dir, watcher)
    run.start()
    threads = [threading.Thread(target=run.stop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    _assert_closed(run, watcher, ends)


def test_a_start_that_fails_ends_the_session_and_raises(data_dir, ends):
    watcher = Watcher()
    run = _stub_run(data_dir, watcher, fail_start=True)
    with pytest.raises(ModelError):
        run.start()
    _assert_closed(run, watcher, ends)


def test_an_observer_that_raises_does_not_keep_the_session_open(data_dir, ends):
    watcher = Watcher(raise_on_finished=True)
    run = _stub_run(data_dir, watcher)
    run.start()
    with pytest.raises(RuntimeError):  # the stub passes it on; the real pipeline logs it
        run.pipeline.finish()
    run.stop()
    _assert_closed(run, watcher, ends)


def test_an_interrupted_analysis_ends_the_session_and_goes_on_raising(data_dir, ends):
    watcher = Watcher()
    run = _stub_run(data_dir, watcher)

    def interrupted(progress=None):
        raise KeyboardInterrupt

    run.pipeline.run = interrupted
    with pytest.raises(KeyboardInterrupt):
        run.run()
    _assert_closed(run, watcher, ends)


def test_a_second_ctrl_c_while_stopping_waits_for_the_threads(data_dir, ends):
    """Ctrl-C twice (or `timeout`, which signals the process and its group): the second
    one used to cut the stop short and leave the analysis threads running, and the process
    then aborted inside onnxruntime at exit (status 134)."""
    import os
    import signal

    watcher = Watcher()
    run = _stub_run(data_dir, watcher)
    stopped = []

    def interrupted(progress=None):
        raise KeyboardInterrupt

    def stop_hit_by_a_second_ctrl_c(timeout_s=2.0):
        os.kill(os.getpid(), signal.SIGINT)  # delivered at the next bytecode, in this thread
        for _ in range(1000):  # the stop goes on: threads are joined, records committed
            pass
        stopped.append(timeout_s)
        run.pipeline.finish()

    run.pipeline.run = interrupted
    run.pipeline.stop = stop_hit_by_a_second_ctrl_c
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run.run(stop_timeout_s=3.0)
    assert stopped == [3.0]  # the stop ran to its end
    assert signal.getsignal(signal.SIGINT) is handler  # Ctrl-C works as before afterwards
    _assert_closed(run, watcher, ends)


def test_a_session_that_cannot_record_is_not_left_locked(data_dir, monkeypatch, ends):
    def no_recorder(*_args, **_kwargs):
        raise StorageError("cannot record video into the session: No space left on device")

    monkeypatch.setattr(session_runner, "SessionRecorder", no_recorder)
    with pytest.raises(StorageError):
        SessionRun(_config(data_dir), session="booth full", record_video=True)
    [info] = list_sessions(load_config())
    assert not info.recording and ends == [info.id]
    assert open_session(load_config(), info.id).meta()["ended_at"]


def test_a_run_without_a_session_writes_nothing(data_dir):
    run = SessionRun(_config(data_dir), realtime=False,
                     pipeline_factory=lambda config, observer, **kw: StubPipeline(config, observer))
    run.run()
    assert run.ended and run.session is None and run.store is None and run.recorder is None
    assert list_sessions(load_config()) == []


@pytest.mark.slow
def test_analyze_and_agent_leave_the_same_session_meta_as_the_console(data_dir, tmp_path):
    from crowdmood_gui.ui.session_controller import default_session_factory  # the console's (QtCore only)

    source = str(data_dir / "single_face.mp4")
    console = default_session_factory(_config(data_dir, session="console"), NullObserver())
    console.start()
    assert console.wait(60)
    assert main(["analyze", source, "--session", "analyze", "--out", str(tmp_path / "t.csv")]) == 0
    assert main(["agent", "--source", source, "--camera", "booth-a", "--session", "agent", "--exit-after", "3"]) == 0
    config = load_config()
    metas = {info.id: open_session(config, info.id).meta() for info in list_sessions(config)}
    assert set(metas) == {"console", "analyze", "agent"}
    shapes = {name: sorted(meta) for name, meta in metas.items()}
    assert shapes["analyze"] == shapes["console"] == shapes["agent"], shapes
    for name, meta in metas.items():
        assert meta["ended_at"] and meta["record_video"] is False and meta["blur_faces"] is False, name
        assert meta["session"] == name  # the records are labelled with the session's id
        assert not is_locked(open_session(config, name))
