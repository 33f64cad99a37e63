"""Recent faces: the last analysed crops, newest first, each with its dominant expression.

Bounded (``max_faces`` tiles, reused: no widget churn over a day at the booth). It can be
switched off for privacy: switching off forgets every thumbnail at once and ignores
further records until switched on again.

A crowd sends tens of records a second (a 576-face 4K crowd: ~60/s), and each one shifts
every tile: the tiles are refreshed at most every :data:`REFRESH_INTERVAL_MS` (the first
record after a quiet spell at once, the rest of a burst together at the end of the
interval), and a thumbnail becomes a pixmap only when it is shown.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from crowdmood_gui.core.emotions import EMOTION_COLOURS
from crowdmood_gui.core.events import RecordEvent
from crowdmood_gui.ui.video_view import UNKNOWN_COLOUR, frame_to_qimage, scaled_font

THUMB_PX = 72
#: At most ~4 strip refreshes a second: faster than that a moving row of faces cannot be
#: read anyway, and at 60 records/s the strip cost the GUI thread more than the video's boxes.
REFRESH_INTERVAL_MS = 250


@dataclass(frozen=True, slots=True)
class RecentFace:
    track_id: int | None
    dominant: str | None
    media_time_s: float
    pixmap: QPixmap | None
    thumbnail: np.ndarray | None = None  # the crop, until it is made into ``pixmap``


class _Thumbnail(QWidget):
    """A face's pixmap, painted centred, or "?" when the record has none.

    Not a QLabel: a QLabel puts a copy of every new pixmap it paints in the process-wide
    QPixmapCache (10 MB by default), so a strip showing a new face every few seconds kept
    up to 10 MB of faces long gone, which grew RSS for the first half hour of a soak and
    kept faces in memory after the privacy switch had forgotten them.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(THUMB_PX, THUMB_PX)
        self.pixmap: QPixmap | None = None
        self.text = ""

    def show_pixmap(self, pixmap: QPixmap | None, text: str = "") -> None:
        self.pixmap, self.text = pixmap, text
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        if self.pixmap is not None and not self.pixmap.isNull():
            size = self.pixmap.size()
            painter.drawPixmap((self.width() - size.width()) // 2, (self.height() - size.height()) // 2, self.pixmap)
        elif self.text:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.text)
        painter.end()


class _Tile(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(THUMB_PX + 12)
        self.image = _Thumbnail()
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setFont(scaled_font(self.caption.font(), 0.85, minimum=7.0))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.image, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.caption)

    border: QColor | None = None  # the expression's colour, drawn in paintEvent

    def show_face(self, face: RecentFace | None) -> None:
        if face is None:
            self.image.show_pixmap(None)
            self.caption.clear()
            self.border = None
            self.setVisible(False)
            return
        colour = EMOTION_COLOURS.get(face.dominant or "", UNKNOWN_COLOUR)
        self.image.show_pixmap(face.pixmap, "?")
        track = f"#{face.track_id} " if face.track_id is not None else ""
        self.caption.setText(f"{track}{(face.dominant or 'no face').lower()}")
        # A painted border, not a per-record style sheet: every record shifts all the tiles,
        # and re-polishing twelve widgets per record is wasted work for a 2 px frame.
        self.border = QColor(colour)
        self.setVisible(True)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().paintEvent(event)
        if self.border is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self.border, 2))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(1, 1, -1, -1), 4, 4)
        painter.end()


class RecentFacesStrip(QWidget):
    """A row of the newest analysed faces. ``faces`` is the model; tiles just show it."""

    def __init__(self, parent: QWidget | None = None, *, max_faces: int = 12, showing: bool = True) -> None:
        super().__init__(parent)
        self.max_faces = max_faces
        self._faces: deque[RecentFace] = deque(maxlen=max_faces)
        self._showing = showing
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._title = QLabel("Recent faces")
        self._title.setStyleSheet("color: #9A9A9A;")
        self._off_label = QLabel("Recent faces are off (privacy).")
        self._off_label.setStyleSheet("color: #9A9A9A;")
        self._tiles = [_Tile(self) for _ in range(max_faces)]
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        for tile in self._tiles:
            tile.setVisible(False)
            row.addWidget(tile)
        row.addWidget(self._off_label)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addWidget(self._title)
        layout.addLayout(row)
        self.setMinimumHeight(THUMB_PX + 50)
        self._off_label.setVisible(not showing)
        self.refreshes = 0  # times the tiles were redrawn from the model
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self._end_of_interval)

    @property
    def showing(self) -> bool:
        return self._showing

    @property
    def faces(self) -> tuple[RecentFace, ...]:
        """Newest first, each with its pixmap."""
        self._make_pixmaps()
        return tuple(self._faces)

    def count(self) -> int:
        return len(self._faces)

    def set_showing(self, showing: bool) -> None:
        """Privacy switch: off clears every thumbnail and ignores records until on again."""
        self._showing = showing
        if not showing:
            self._faces.clear()
        self._off_label.setVisible(not showing)
        self._refresh()

    def clear(self) -> None:
        self._faces.clear()
        self._refresh()

    def add_record(self, event: RecordEvent) -> None:
        if not self._showing:
            return
        record = event.record
        thumbnail = event.thumbnail if event.thumbnail is not None and event.thumbnail.size else None
        self._faces.appendleft(
            RecentFace(
                track_id=record.meta.track_id,
                dominant=record.dominant,
                media_time_s=event.media_time_s,
                pixmap=None,
                thumbnail=thumbnail,
            )
        )
        if self._timer.isActive():
            self._dirty = True  # shown with the rest of the burst at the end of the interval
        else:
            self._refresh()
            self._timer.start()

    def _end_of_interval(self) -> None:
        if self._dirty:
            self._refresh()
            self._timer.start()

    def _make_pixmaps(self) -> None:
        """A pixmap for each face kept that has a crop and no pixmap yet (at most ``max_faces``:
        a crop pushed out before it was shown never becomes one)."""
        for i, face in enumerate(self._faces):
            if face.thumbnail is None:
                continue
            qimage, _buffer = frame_to_qimage(face.thumbnail)
            # fromImage copies the pixels, so _buffer may go once it returns.
            pixmap = QPixmap.fromImage(qimage).scaled(
                THUMB_PX,
                THUMB_PX,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            del _buffer
            self._faces[i] = replace(face, pixmap=pixmap, thumbnail=None)

    def _refresh(self) -> None:
        self._dirty = False
        self.refreshes += 1
        self._make_pixmaps()
        faces = list(self._faces)
        for i, tile in enumerate(self._tiles):
            tile.show_face(faces[i] if i < len(faces) else None)
