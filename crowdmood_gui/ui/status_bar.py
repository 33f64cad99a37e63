"""What the operator reads at a glance: the status bar (source line and live figures), the
REC badge and the message banner.

Each widget is fed plain data (a :class:`LiveStatus`, a session's state and name) and holds
no reference back into the window: the window builds the data twice a second and hands it
over, so each widget can be shown and tested on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStatusBar, QToolButton, QWidget

from crowdmood_gui.core.events import StatsEvent
from crowdmood_gui.ui.session_state import IDLE, PAUSED, RUNNING, STARTING, STOPPING

BANNER_SECONDS = 15
STATUS_KEYS = ("display", "detection", "faces", "tracks", "queue", "uploads", "lag", "cost", "failed")
AWS_STATUS_KEYS = ("uploads", "lag", "cost", "failed")
STATUS_TIPS = {
    "queue": "Face crops waiting for analysis",
    "uploads": "Face crops waiting on disk for upload to S3",
    "lag": "Capture to result: upload, Lambda, Rekognition, DynamoDB",
    "failed": "Analyses AWS gave up on, kept in the failure queue: run crowdmood aws-redrive",
}
FAILED_STYLE = "color: #E0533A;"


def source_display_name(spec: str) -> str:
    """A source as the operator sees it: a file by its name, a URL with its password masked,
    a camera as "camera N" (the status bar, the window title, the console log)."""
    try:
        from crowdmood_gui.core.capture import SourceSpec

        shown = SourceSpec.parse(spec).display_name
    except Exception:  # unparsable: shown as typed (masked); the error comes from opening it
        from crowdmood_gui.core.secrets import redact_url

        shown = redact_url(spec)
    if "/" in shown and "://" not in shown:
        shown = Path(shown).name
    return shown


def duration_text(seconds: float) -> str:
    """12 s, 4 min 05 s, 1 h 02 min: for "last frame … ago" and "next try in …"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Reconnecting(NamedTuple):
    """The source is being reopened: which attempt failed, when the next one is
    (``time.monotonic()``), and why."""

    attempt: int
    next_try_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class NoSignal:
    """The notice over the video while the source is silent or reconnecting."""

    title: str  # the overlay's headline: "No signal" or "Cannot open the source"
    detail: str  # its clocks: last frame … ago, next try in …, and why
    source_line: str  # the status bar's source text meanwhile


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """Everything the status bar shows, as plain data."""

    state: str = IDLE
    source_name: str = ""  # as shown to the operator (masked, file name only)
    stats: StatsEvent | None = None  # the pipeline's last figures (None: not running)
    display_fps: float = 0.0
    frames_painted: int = 0
    signal_lost_s: float | None = None  # seconds since the last frame of a silent source
    reconnect: Reconnecting | None = None
    aws_backend: bool = False

    @property
    def live(self) -> StatsEvent | None:
        """The figures, while a picture arrives: a silent source has no live figures."""
        return self.stats if self.signal_lost_s is None and self.reconnect is None else None

    @property
    def shows_aws(self) -> bool:
        return self.aws_backend or (self.stats is not None and self.stats.upload_queue is not None)

    def no_signal(self, now: float | None = None) -> NoSignal | None:
        """The "No signal" notice while the session waits on a silent or reconnecting source;
        a source that never opened says why and when it tries again. None otherwise."""
        if self.state not in (STARTING, RUNNING):
            return None
        detail = self.no_signal_detail(time.monotonic() if now is None else now)
        if self.reconnect is not None and self.frames_painted == 0:
            return NoSignal("Cannot open the source", detail,
                            f"Cannot open {self.source_name}: attempt {self.reconnect.attempt} failed, retrying")
        if self.signal_lost_s is not None or self.reconnect is not None:
            return NoSignal("No signal", detail,
                            f"No signal from {self.source_name}" + (", reconnecting" if self.reconnect else ""))
        return None

    def no_signal_detail(self, now: float) -> str:
        parts = []
        if self.signal_lost_s is not None:
            parts.append(f"Last frame {duration_text(self.signal_lost_s)} ago.")
        if self.reconnect is not None:
            attempt, next_at, reason = self.reconnect
            wait = next_at - now
            when = f"next try in {duration_text(wait)}" if wait > 0.5 else "trying now"
            parts.append(f"Reconnecting: attempt {attempt} failed, {when}.")
            if reason:
                parts.append(reason[0].upper() + reason[1:])
        return "\n".join(parts)


class ConsoleStatusBar(QStatusBar):
    """The source line (left) and one label per figure (right); the AWS figures only in AWS
    mode, "Failed N" only when something waits in the failure queue. A figure the console
    cannot know right now reads "–"."""

    def __init__(self, parent: QWidget | None = None, *, aws_backend: bool = False) -> None:
        super().__init__(parent)
        self.source_label = QLabel("No source")
        self.source_label.setObjectName("status_source")
        self.addWidget(self.source_label, 1)
        self.labels: dict[str, QLabel] = {}
        for key in STATUS_KEYS:
            label = QLabel()
            label.setObjectName(f"status_{key}")
            label.setContentsMargins(8, 0, 8, 0)
            label.setToolTip(STATUS_TIPS.get(key, ""))
            self.addPermanentWidget(label)
            self.labels[key] = label
        self.show_status(LiveStatus(aws_backend=aws_backend))

    def texts(self) -> dict[str, str]:
        """The figures shown now (hidden ones left out), by key."""
        return {key: label.text() for key, label in self.labels.items() if not label.isHidden()}

    def show_status(self, status: LiveStatus, now: float | None = None) -> None:
        s, live, labels = status.stats, status.live, self.labels
        labels["display"].setText("Paused" if status.state == PAUSED else f"Display {status.display_fps:.1f} fps")
        labels["detection"].setText(f"Detection {live.detection_fps:.1f} Hz" if live else "Detection –")
        labels["faces"].setText(f"Faces {live.faces}" if live else "Faces –")
        labels["tracks"].setText(f"Tracks {live.tracks}" if live else "Tracks –")
        labels["queue"].setText(f"Queue {s.analysis_queue}" if s else "Queue –")
        aws = status.shows_aws
        for key in AWS_STATUS_KEYS:
            labels[key].setVisible(aws)
        if aws:
            labels["uploads"].setText(f"Uploads {s.upload_queue}" if s and s.upload_queue is not None else "Uploads –")
            lag = s.analysis_lag_s if s else None
            labels["lag"].setText(f"Lag {lag:.0f} s" if lag is not None else "Lag –")
            cost = f"${s.cost_usd:.3f}" if s and s.cost_usd is not None else "$–"
            rate = f" (~${s.projected_usd_per_hour:.2f}/h)" if s and s.projected_usd_per_hour is not None else ""
            labels["cost"].setText(f"Cost {cost}{rate}")
            failed = s.failed_waiting if s else None
            labels["failed"].setVisible(bool(failed))  # only when something needs doing
            labels["failed"].setText(f"Failed {failed}" if failed else "")
            style = FAILED_STYLE if failed else ""
            if labels["failed"].styleSheet() != style:  # re-polishing every refresh is waste
                labels["failed"].setStyleSheet(style)
        notice = status.no_signal(now)
        if notice is not None:
            self.source_label.setText(notice.source_line)


class RecBadge(QLabel):
    """Always in sight (the menu bar's corner): recording or paused, the session's name, how
    long, and whether video is kept."""

    # The menu bar sizes its corner widget once: room for a long name from the start.
    WIDEST = "❚❚ PAUSED  booth-1 2026-11-30 10:00 expo hall  00:00:00  ·  no video recorded"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rec_badge")
        self.setContentsMargins(10, 1, 10, 1)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance(self.WIDEST) + 40)
        self.show_session(IDLE)

    def show_session(self, state: str, name: str | None = None, elapsed_s: float = 0.0,
                     recording_video: bool = False) -> None:
        video = "video recorded" if recording_video else "no video recorded"
        name = name or ""
        if state == RUNNING:
            text, style = f"● REC  {name}  {clock_text(elapsed_s)}  ·  {video}", \
                "background: #B71C1C; color: white; font-weight: bold; border-radius: 4px;"
        elif state == PAUSED:
            text, style = f"❚❚ PAUSED  {name}  {clock_text(elapsed_s)}  ·  {video}", \
                "background: #E0A030; color: black; font-weight: bold; border-radius: 4px;"
        elif state == STARTING:
            text, style = f"Starting {name}…", "color: #BBBBBB;"
        elif state == STOPPING:
            text, style = f"Stopping {name}…", "color: #BBBBBB;"
        else:
            text, style = "Not recording", "color: #9E9E9E;"
        if self.text() != text:
            self.setText(text)
        if self.styleSheet() != style:  # re-polishing twice a second is waste
            self.setStyleSheet(style)
        self.setToolTip(f"Session “{name}”: {video}" if state in (RUNNING, PAUSED) else "No session is recording")


class MessageBanner(QFrame):
    """A one-line, non-modal notice above the video (pipeline errors); hides itself."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet("#banner { background: #5D4037; border-radius: 4px; } QLabel { color: #FFE0B2; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(self, text: str, seconds: int = BANNER_SECONDS) -> None:
        self.label.setText(text)
        self.show()
        self._timer.start(seconds * 1000)

    @property
    def text(self) -> str:
        return self.label.text()
