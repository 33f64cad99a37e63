"""What the console shows of a running session: the pipeline's events (through the
session's :class:`~crowdmood_gui.ui.bridge.SignalBridge`, on the GUI thread) handed to the
video, the chart, the recent faces, the status bar and the REC badge; and the figures
``--stats-out`` reports. Like napari's views, it subscribes to events and keeps only what
it shows; the session itself is :class:`~crowdmood_gui.ui.session_controller.SessionController`'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.events import ErrorEvent, RecordEvent, SourceEvent, StatsEvent, TimelineRow
from crowdmood_gui.ui.bridge import SignalBridge
from crowdmood_gui.ui.session_state import RUNNING, STOPPING
from crowdmood_gui.ui.status_bar import LiveStatus, Reconnecting, source_display_name

if TYPE_CHECKING:
    from crowdmood_gui.ui.main_window import MainWindow


class LiveFigures:
    """The live figures of the window's current session (one instance per window; reset at
    each session's start)."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        self.source_state = ""  # the last SourceEvent's: opening, open, reconnecting, ended, failed
        self._open_label = ""  # the source line while it is open: "● demo.mp4 1280×720 @ 15 fps"
        self.last_stats: StatsEvent | None = None
        self.records_seen = 0
        self._detection_sum = 0.0
        self._detection_count = 0
        self._reconnect: Reconnecting | None = None
        self._signal_lost_s: float | None = None
        self.session_started_monotonic: float | None = None
        self.first_frame_delay_s: float | None = None
        self.first_frame_wall: float | None = None  # time.time() of the first frame painted-ready

    def session_starting(self, bridge: SignalBridge, config: AppConfig) -> None:
        """A new session is being built: its events come here, the views start empty."""
        w = self._window
        bridge.frame_ready.connect(self.on_frame_ready)
        bridge.record_analysed.connect(self.on_record)
        bridge.timeline_updated.connect(self.on_timeline)
        bridge.stats_updated.connect(self.on_stats)
        bridge.source_changed.connect(self.on_source)
        bridge.error_raised.connect(self.on_error)
        w.store.clear()
        w.faces.clear()
        w.chart.set_live_edge(None)
        w.video.clear(f"Opening {source_display_name(config.source.spec)}…")
        self._reconnect = None
        self._signal_lost_s = None
        w.video.reset_measurements()
        self.last_stats = None
        self.records_seen = 0
        self._detection_sum = 0.0
        self._detection_count = 0
        self.first_frame_delay_s = None
        self.session_started_monotonic = time.monotonic()
        self.source_state = "opening"
        w.source_label.setText(f"Opening {source_display_name(config.source.spec)}…")
        w.chart.set_local_backend(config.backend == "local")

    # --- pipeline events (GUI thread, via the bridge) ---------------------------------

    def on_frame_ready(self) -> None:
        w = self._window
        bridge = w.sessions.bridge
        event = bridge.take_frame() if bridge is not None else None
        if event is None:
            return
        if self.first_frame_delay_s is None and self.session_started_monotonic is not None:
            self.first_frame_delay_s = time.monotonic() - self.session_started_monotonic
            if self.first_frame_wall is None:
                self.first_frame_wall = time.time()
        w.video.set_frame(event)

    def on_record(self, event: RecordEvent) -> None:
        self.records_seen += 1
        self._window.faces.add_record(event)

    def on_timeline(self, period_s: int, rows: list[TimelineRow]) -> None:
        self._window.store.add(period_s, rows)

    def on_stats(self, event: StatsEvent) -> None:
        w = self._window
        if w.state == STOPPING:
            return  # the last word of a session being stopped: its figures are not live any more
        self.last_stats = event
        lost = event.signal_lost_s
        if w.state == RUNNING and self.source_state == "open" and w.video.frames_painted > 0 and lost is None:
            self._detection_sum += event.detection_fps
            self._detection_count += 1
        self._signal_lost_s = lost
        if lost is not None:
            w.video.clear_boxes()  # the frozen picture's boxes are not current
        elif self.source_state == "open" and w.video.overlay and w.video.overlay[0] == "No signal":
            w.video.set_overlay(None)
            self._reconnect = None
            w.source_label.setText(self._open_label)
        w.chart.set_live_edge(event.clock_s)
        self.refresh_status()

    def clear(self) -> None:
        """A stopped, ended or failed source: nothing on screen may look live."""
        w = self._window
        self.last_stats = None
        self._signal_lost_s = None
        self._reconnect = None
        w.video.clear_boxes()
        w.chart.set_live_edge(None)
        self.refresh_status()

    def on_source(self, event: SourceEvent) -> None:
        w = self._window
        self.source_state = event.state
        name = source_display_name(w.config.source.spec)
        if event.state == "opening":
            w.source_label.setText(f"Opening {name}…")
        elif event.state == "open":
            self._reconnect = None
            if w.video.overlay and w.video.overlay[0] in ("No signal", "Cannot open the source"):
                w.video.set_overlay(None)
            size = f" {event.width}×{event.height}" if event.width else ""
            rate = f" @ {event.fps:.0f} fps" if event.fps else ""
            self._open_label = f"● {name}{size}{rate}"
            w.source_label.setText(self._open_label)
        elif event.state == "reconnecting":
            reason = event.message.rsplit("; retrying in", 1)[0]
            self._reconnect = Reconnecting(event.attempt or 1, time.monotonic() + event.retry_in_s, reason)
            w.video.clear_boxes()
            self.refresh_status()
        elif event.state == "ended":
            w.source_label.setText(f"Ended: {name}")
            self.clear()
            w.video.clear(f"Ended: {name}. Session ▸ Start (F5) plays it again in a new session.")
        elif event.state == "failed":
            w.source_label.setText(f"Failed: {name}")
            self.clear()
            w.video.clear(f"Could not open {name}: {event.message}" if event.message else f"Could not open {name}.")
            w.errors.append(event.message)
            w.show_message("Cannot open the source", event.message or f"{name} could not be opened.")

    def on_error(self, event: ErrorEvent) -> None:
        self._window.report_error(event.message if not event.where else f"{event.message} ({event.where})")

    # --- status bar -------------------------------------------------------------------

    def refresh_status(self) -> None:
        """Hand the status bar, the REC badge and the video's "No signal" notice the figures of
        the moment (twice a second, and on every change)."""
        w = self._window
        status = LiveStatus(
            state=w.state,
            source_name=source_display_name(w.config.source.spec),
            stats=self.last_stats,
            display_fps=w.video.display_fps(),
            frames_painted=w.video.frames_painted,
            signal_lost_s=self._signal_lost_s,
            reconnect=self._reconnect,
            aws_backend=w.config.backend == "aws",
        )
        w.status_bar.show_status(status)
        w.rec_badge.show_session(w.state, w.session_name, w.session_elapsed_s(), w.recording_video)
        notice = status.no_signal()
        if notice is not None:
            w.video.set_overlay(notice.title, notice.detail)

    # --- measurements -----------------------------------------------------------------

    def measurements(self) -> dict[str, Any]:
        """What --stats-out reports (the process figures are added by the app)."""
        w = self._window
        records = max(self.records_seen, w.sessions.records_analysed())
        if self.last_stats is not None:
            records = max(records, self.last_stats.records_analysed)
        video = w.video
        return {
            "display_fps": round(video.mean_display_fps(), 2),
            "detection_fps": round(self._detection_sum / self._detection_count, 2) if self._detection_count else 0.0,
            "latency_p50_ms": video.latency.percentile(50),
            "latency_p95_ms": video.latency.percentile(95),
            "records_analysed": records,
            "frames_painted": video.frames_painted,
            "first_frame_s": round(self.first_frame_delay_s, 3) if self.first_frame_delay_s is not None else None,
        }
