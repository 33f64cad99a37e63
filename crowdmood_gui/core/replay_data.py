"""A recorded session loaded for replay: "this path or id -> everything replay shows";
and a video file analysed into a temporary session so that it can be replayed the same way
(:class:`VideoAnalysis`).

Qt-free, so it loads off the GUI thread and is tested without a window; ``ui/replay.py``
only paints it (the video frame, the chart from ``ui/plots.py``, the transport) and shows
the analysis' progress.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.crowd import DEFAULT_HALF_LIFE_S, CrowdState, mean_vector
from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.events import TimelineRow, TrackBox
from crowdmood_gui.core.recording import VideoIndex
from crowdmood_gui.core.series import PERIODS, chart_period
from crowdmood_gui.core.sessions import Session, is_locked, open_session, read_meta

if TYPE_CHECKING:
    from crowdmood_gui.core.session_runner import SessionRun


def replay_target(config: AppConfig, target: Session | str | Path) -> Session | Path:
    """What ``target`` names: a session (a :class:`Session`, a session folder, a session id
    or name), or a video file to analyse before it can be replayed (returned as its path).
    Raises :class:`InputError` (one line) for an unknown session."""
    if isinstance(target, Session):
        return target
    path = Path(target)
    if path.is_dir() and (path / "session.db").exists():
        return Session(id=path.name, path=path)
    if path.is_file():
        return path
    return open_session(config, str(target))


class VideoAnalysis:
    """A video file analysed with the local model into a temporary session (records,
    timeline and the frames with their boxes, under ``temp_dir``), as fast as the machine
    allows, to be replayed like a recorded one. ``run`` blocks (call it off the GUI thread);
    ``media_s`` and ``total_s`` say how far it is; ``cancel`` and ``stop`` end it early."""

    def __init__(self, config: AppConfig, video: Path) -> None:
        self.config = config
        self.video = video
        self.temp_dir = Path(tempfile.mkdtemp(prefix="crowdmood-replay-"))
        self.session = Session(id=video.stem, path=self.temp_dir / "session")
        self.session_run: SessionRun | None = None
        self.cancelled = False
        self.media_s = 0.0
        self.total_s: float | None = None

    def run(self) -> int:
        """Analyse the whole video; returns the number of faces analysed. A file that is not
        a video, or fails half-way, raises :class:`InputError` (one line)."""
        from crowdmood_gui.core.capture import video_duration_s
        from crowdmood_gui.core.session_runner import SessionRun, VideoOptions
        from crowdmood_gui.core.store import SessionStore

        self.total_s = video_duration_s(str(self.video))
        self.session.path.mkdir(parents=True)
        store = SessionStore(self.session.db_path)
        store.set_meta(name=self.video.name, source=str(self.video))
        store.close()

        def progress(media_s: float, _frames: int) -> None:
            self.media_s = media_s

        config = self.config.model_copy(update={"backend": "local"}, deep=True)
        config.source.spec = str(self.video)
        config.source.loop = False
        run = SessionRun(config, session=self.session, record_video=True, realtime=False,
                         video=VideoOptions(fps_cap=30.0, block=True),
                         meta={"analysed_offline": True})
        self.session_run = run
        if self.cancelled:
            run.stop(1.0)
        run.run(progress)
        if run.pipeline.source_error:
            raise InputError(f"{self.video.name}: {run.pipeline.source_error}")
        return run.pipeline.records_analysed

    def cancel(self) -> None:
        """No replay is wanted any more; a run that has not started yet stops at once.
        Returns at once: :meth:`stop` stops a run in progress."""
        self.cancelled = True

    def stop(self, timeout_s: float) -> None:
        """Cancel and stop the run in progress (blocks up to ``timeout_s``)."""
        self.cancelled = True
        if self.session_run is not None:
            self.session_run.stop(timeout_s)

    def remove(self) -> None:
        """Remove the temporary session (after a cancel, a failure, or its replay)."""
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@dataclass
class ReplayData:
    """Everything replay needs from a session, loaded once (off the GUI thread if wanted)."""

    session: Session
    meta: dict[str, Any]
    timelines: dict[int, list[TimelineRow]]
    index: VideoIndex
    labels: dict[int, tuple[np.ndarray, list[str]]]  # track id -> (times, dominant) from records
    duration_s: float

    @classmethod
    def load(cls, session: Session) -> "ReplayData":
        from crowdmood_gui.core.store import SessionStore

        if not session.db_path.exists():  # SessionStore would create an empty one
            raise InputError(f"{session.path} holds no session (no session.db)")
        live = is_locked(session)  # never rewrite a session another process records into
        store = SessionStore(session.db_path)
        try:
            timelines = {p: store.timeline(p) for p in PERIODS}
            crops = store.crop_emotions()  # labels only: the crops' emotions, no records built
        finally:
            store.close(commit=not live)
        # Boxes as they were shown live: each person's estimated dominant expression after
        # each of their crops (the one crowd state, with the session's half-life).
        meta = read_meta(session.db_path)
        half_life = ((meta.get("settings") or {}).get("crowd") or {}).get("half_life_s") or DEFAULT_HALF_LIFE_S
        crowd = CrowdState(float(half_life))
        labels: dict[int, tuple[list[float], list[str]]] = {}
        for track_id, t, emotions in crops:
            vector = mean_vector(emotions)
            if vector is None:
                continue
            crowd.add_crop(t, track_id, vector)
            times, values = labels.setdefault(track_id, ([], []))
            times.append(t)
            values.append(crowd.dominant(track_id))
        index = VideoIndex(session.path, recover_tail=not live)
        ends = [index.duration_s]
        finest = next((p for p in PERIODS if timelines.get(p)), None)  # a 60-s row would add up to a minute
        if finest is not None:
            ends.append(timelines[finest][-1].t + finest)
        return cls(
            session=session,
            meta=meta,
            timelines=timelines,
            index=index,
            labels={k: (np.asarray(t), v) for k, (t, v) in labels.items()},
            duration_s=max(ends),
        )

    def label(self, track_id: int, t: float) -> str | None:
        """The dominant expression shown on ``track_id``'s box at ``t`` (None before its first crop)."""
        entry = self.labels.get(track_id)
        if entry is None:
            return None
        times, values = entry
        i = int(np.searchsorted(times, t + 0.5, side="right")) - 1
        return values[i] if i >= 0 else None

    def default_period(self) -> int:
        """The chart period a whole-session chart opens with."""
        return chart_period(self.duration_s, [p for p in PERIODS if self.timelines.get(p)] or [1])

    def boxes_at(self, tracks: tuple[TrackBox, ...], media_time_s: float) -> tuple[TrackBox, ...]:
        """A recorded frame's boxes as they were shown live: a box recorded without its
        dominant expression gets the one the person had at ``media_time_s``."""
        return tuple(
            b if b.dominant else TrackBox(b.track_id, b.x1, b.y1, b.x2, b.y2, b.score, self.label(b.track_id, media_time_s))
            for b in tracks
        )

    def close(self) -> None:
        """Release the recorded video (its index keeps the file open)."""
        self.index.close()
