"""The one place where core events become Qt signals.

The pipeline calls :class:`SignalBridge`'s ``on_*`` methods from its worker threads (it is
a :class:`~crowdmood_gui.core.pipeline.PipelineObserver`). Each call is re-emitted as a
typed Qt signal; because the bridge lives in the GUI thread, Qt queues every emission and
the connected slots run on the GUI thread. Widgets never see a worker thread.

Frames are special: at 30 fps a slow paint must not let the event queue fill with stale
frames. The bridge keeps only the latest :class:`FrameEvent` in a lock-protected slot and
emits :attr:`SignalBridge.frame_ready` only when the slot was empty; the GUI then calls
:meth:`SignalBridge.take_frame`, which returns the newest frame and empties the slot.
Frames replaced before the GUI took them are counted in :attr:`frames_dropped`.

Every event goes through one private queued signal to a slot of the bridge, which re-emits
the public signal on the GUI thread, even when the pipeline calls from the GUI thread itself
(no re-entrant slots inside ``pipeline.stop()``). That slot checks :meth:`detach` first:
after it (the window moved on to another pipeline, or is closing) nothing more reaches the
widgets, not even events already waiting in the Qt queue.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Qt, Signal

from crowdmood_gui.core.events import (
    ErrorEvent,
    FrameEvent,
    RecordEvent,
    SourceEvent,
    StatsEvent,
    TimelineRow,
)

log = logging.getLogger(__name__)


class SignalBridge(QObject):
    """Pipeline observer (any thread) -> Qt signals (GUI thread).

    Signals (all delivered on the GUI thread):

    ``frame_ready()``
        A frame is waiting: call :meth:`take_frame`. Never more than one in the queue.
    ``record_analysed(RecordEvent)``
        A face crop was analysed.
    ``timeline_updated(int period_s, list[TimelineRow] rows)``
        New or updated rows of one period; a row with the same ``t`` replaces the old one.
    ``stats_updated(StatsEvent)``
        About twice a second.
    ``source_changed(SourceEvent)``
        Capture state: opening, open, reconnecting, ended, failed.
    ``error_raised(ErrorEvent)``
        A non-fatal problem to show in one line.
    ``finished()``
        Every pipeline thread has stopped.
    """

    frame_ready = Signal()
    record_analysed = Signal(object)  # RecordEvent
    timeline_updated = Signal(int, object)  # period_s, list[TimelineRow]
    stats_updated = Signal(object)  # StatsEvent
    source_changed = Signal(object)  # SourceEvent
    error_raised = Signal(object)  # ErrorEvent
    finished = Signal()

    # (public signal name, args) from any thread -> _deliver on the GUI thread.
    _queued = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: FrameEvent | None = None
        self._detached = False
        self.frames_received = 0
        self.frames_dropped = 0
        self._queued.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    # --- PipelineObserver (worker threads) -------------------------------------------

    def on_frame(self, event: FrameEvent) -> None:
        with self._lock:
            if self._detached:
                return
            self.frames_received += 1
            was_empty = self._pending is None
            if not was_empty:
                self.frames_dropped += 1
            self._pending = event
        if was_empty:
            self._post("frame_ready")

    def on_record(self, event: RecordEvent) -> None:
        self._post("record_analysed", event)

    def on_timeline(self, period_s: int, rows: list[TimelineRow]) -> None:
        self._post("timeline_updated", int(period_s), list(rows))

    def on_stats(self, event: StatsEvent) -> None:
        self._post("stats_updated", event)

    def on_source(self, event: SourceEvent) -> None:
        self._post("source_changed", event)

    def on_error(self, event: ErrorEvent) -> None:
        self._post("error_raised", event)

    def on_finished(self) -> None:
        self._post("finished")

    # --- GUI thread ------------------------------------------------------------------

    def take_frame(self) -> FrameEvent | None:
        """The newest frame not yet taken (and empty the slot), or None."""
        with self._lock:
            event, self._pending = self._pending, None
        return event

    @property
    def detached(self) -> bool:
        return self._detached

    def detach(self) -> None:
        """Ignore every further pipeline call and drop the pending frame."""
        with self._lock:
            self._detached = True
            self._pending = None

    def _post(self, name: str, *args) -> None:
        if self._detached:
            return
        try:
            self._queued.emit(name, args)
        except RuntimeError:  # the C++ object is gone (application shutting down)
            log.debug("signal bridge already deleted; dropped %s", name)

    def _deliver(self, name: str, args: tuple) -> None:
        if self._detached:
            return
        getattr(self, name).emit(*args)
