"""The live video with a box and a track id on every face.

:class:`VideoView` paints the latest :class:`FrameEvent` it was given. The boxes it draws
are kept as plain data (:attr:`VideoView.last_boxes`) so tests and tools can check what is
on screen without reading pixels. It also measures what the operator actually sees:
display fps (frames painted) and frame-to-paint latency (``time.monotonic()`` when the
frame is painted minus :attr:`FrameEvent.captured_monotonic`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen, QPixmap, QStaticText, QTransform
from PySide6.QtWidgets import QSizePolicy, QWidget

from crowdmood_gui.core.emotions import EMOTION_COLOURS
from crowdmood_gui.core.events import FrameEvent, ShownBoxes

UNKNOWN_COLOUR = "#9E9E9E"  # a track whose expression is not known yet

#: A box narrower than this on screen gets no label: "#123 HAPPY" is ~80 px wide, and in a
#: far crowd the labels would cover each other and the faces; the colour still says the
#: expression. 24 px on screen is a 46 px face of a 1080p frame in a 1000 px wide view.
MIN_LABELLED_BOX_PX = 24
LABEL_PAD_X = 4
LABEL_CACHE_SIZE = 1024  # ~80x16 px each: at most ~5 MB


def box_colour(dominant: str | None) -> str:
    """Box colour for a track: its dominant expression's colour, grey until known."""
    return EMOTION_COLOURS.get(dominant or "", UNKNOWN_COLOUR)


def box_label(track_id: int, dominant: str | None) -> str:
    """A box's label: "#12 HAPPY", or "#12" until the expression is known."""
    return f"#{track_id} {dominant}" if dominant else f"#{track_id}"


_NO_BOXES = ShownBoxes.from_boxes(())


def scaled_font(font: QFont, factor: float, minimum: float = 0.0) -> QFont:
    """A copy of ``font`` ``factor`` times bigger, whether it is sized in points or in
    pixels (``pointSizeF()`` is -1 for a pixel-sized font: scaling it would warn
    "QFont::setPointSizeF: Point size <= 0" and leave the default size)."""
    out = QFont(font)
    if font.pointSizeF() > 0:
        out.setPointSizeF(max(minimum, font.pointSizeF() * factor))
    elif font.pixelSize() > 0:
        out.setPixelSize(max(1, round(max(minimum * 96 / 72, font.pixelSize() * factor))))
    return out


@dataclass(frozen=True, slots=True)
class _Label:
    """A label drawn once: its text on its background colour, and its size in widget pixels."""

    pixmap: QPixmap
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class DrawnBox:
    """One box as drawn, in the frame's pixel coordinates."""

    track_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str  # "#RRGGBB"
    label: str  # "#12 HAPPY"
    dominant: str | None


class LatencyHistogram:
    """Frame-to-paint latencies in 1 ms bins up to 10 s: constant memory for a 30-min soak."""

    MAX_MS = 10_000

    def __init__(self) -> None:
        self._bins = np.zeros(self.MAX_MS + 1, dtype=np.int64)
        self.count = 0

    def add(self, latency_s: float) -> None:
        ms = int(round(latency_s * 1000.0))
        self._bins[min(max(ms, 0), self.MAX_MS)] += 1
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0..100) in milliseconds, None before any sample."""
        if self.count == 0:
            return None
        rank = q / 100.0 * self.count
        cumulative = np.cumsum(self._bins)
        return float(np.searchsorted(cumulative, max(rank, 1), side="left"))

    def reset(self) -> None:
        self._bins[:] = 0
        self.count = 0


def frame_to_qimage(image: np.ndarray) -> tuple[QImage, np.ndarray]:
    """Wrap a BGR (or grey) uint8 array in a QImage without copying its pixels.

    Returns the image and the array it points into: the caller must keep that array alive
    as long as the QImage is used. A non-contiguous array is copied once.
    """
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    if image.ndim == 2:
        height, width = image.shape
        fmt = QImage.Format.Format_Grayscale8
    elif image.ndim == 3 and image.shape[2] == 3:
        height, width = image.shape[:2]
        fmt = QImage.Format.Format_BGR888
    elif image.ndim == 3 and image.shape[2] == 4:
        height, width = image.shape[:2]
        fmt = QImage.Format.Format_ARGB32  # BGRA bytes on little-endian machines
    else:
        raise ValueError(f"unsupported frame shape {image.shape}")
    qimage = QImage(image.data, width, height, image.strides[0], fmt)
    return qimage, image


class VideoView(QWidget):
    """Paints the latest frame, scaled to fit, with one labelled box per tracked face."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._event: FrameEvent | None = None
        self._qimage: QImage | None = None
        self._buffer: np.ndarray | None = None  # the pixels _qimage points into
        self._shown = _NO_BOXES  # the current frame's boxes, as arrays (painted from these)
        self._boxes: tuple[DrawnBox, ...] | None = ()  # the same as DrawnBoxes, made when asked
        self._set_serial = 0  # frames set so far (never reset)
        self._painted_serial = 0  # the serial of the last frame painted
        self._placeholder = "No source. File ▸ Open video…, Open camera… or Open URL…"
        self._paint_times: deque[float] = deque(maxlen=120)
        self.latency = LatencyHistogram()
        self.frames_painted = 0
        self.frames_set = 0
        self.first_paint_monotonic: float | None = None
        self.last_paint_monotonic: float | None = None
        self._pen_cache: dict[str, tuple[QColor, QPen, QPen]] = {}
        self._label_cache: dict[tuple[str, str, float], _Label] = {}
        self.labels_painted = 0  # labels drawn at the last paint (boxes too small get none)
        self._label_font = scaled_font(self.font(), 1.0, minimum=8.0)
        self._label_font.setBold(True)
        self._overlay: tuple[str, str] | None = None  # (title, detail): "No signal", "PAUSED"
        self._overlay_title_font = scaled_font(self.font(), 2.2, minimum=16.0)
        self._overlay_title_font.setBold(True)

    # --- model --------------------------------------------------------------------------

    def set_frame(self, event: FrameEvent) -> None:
        """Show ``event`` at the next paint (a frame not painted yet is simply replaced).
        Nothing per box here: the boxes are painted from the event's arrays."""
        self._qimage, self._buffer = frame_to_qimage(event.image)
        self._event = event
        self._shown = ShownBoxes.from_boxes(event.tracks)
        self._boxes = None
        self._set_serial += 1
        self.frames_set += 1
        self.update()

    def clear(self, message: str | None = None) -> None:
        """Forget the frame (a new source is opening); show ``message`` instead."""
        self._event = None
        self._qimage = None
        self._buffer = None
        self._shown = _NO_BOXES
        self._boxes = ()
        self._overlay = None
        if message is not None:
            self._placeholder = message
        self.update()

    def clear_boxes(self) -> None:
        """The frame stays, its boxes go (they are no longer current)."""
        if len(self._shown):
            self._shown = _NO_BOXES
            self._boxes = ()
            self.update()

    def set_overlay(self, title: str | None, detail: str = "") -> None:
        """A big notice over the video ("No signal", "PAUSED"); ``None`` removes it."""
        overlay = (title, detail) if title else None
        if overlay != self._overlay:
            self._overlay = overlay
            self.update()

    @property
    def overlay(self) -> tuple[str, str] | None:
        """(title, detail) of the notice shown over the video, or None."""
        return self._overlay

    def set_placeholder(self, message: str) -> None:
        self._placeholder = message
        if self._event is None:
            self.update()

    @property
    def placeholder(self) -> str:
        return self._placeholder

    @property
    def last_boxes(self) -> tuple[DrawnBox, ...]:
        """The boxes of the current frame, as drawn (frame pixel coordinates)."""
        if self._boxes is None:
            shown = self._shown
            self._boxes = tuple(
                DrawnBox(track_id=i, x1=x1, y1=y1, x2=x2, y2=y2, colour=box_colour(d), label=box_label(i, d),
                         dominant=d)
                for i, (x1, y1, x2, y2), d in zip(shown.ids.tolist(), shown.xyxy.tolist(), shown.dominants))
        return self._boxes

    @property
    def current_frame(self) -> FrameEvent | None:
        return self._event

    def display_fps(self, now: float | None = None) -> float:
        """Frames painted per second over the last ~2 s (0 when nothing is painting)."""
        now = time.monotonic() if now is None else now
        recent = [t for t in self._paint_times if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        if now - recent[-1] > 1.0 or span <= 0:
            return 0.0
        return (len(recent) - 1) / span

    def mean_display_fps(self) -> float:
        """Frames painted per second between the first and the last paint."""
        if self.first_paint_monotonic is None or self.last_paint_monotonic is None:
            return 0.0
        span = self.last_paint_monotonic - self.first_paint_monotonic
        return (self.frames_painted - 1) / span if span > 0 and self.frames_painted > 1 else 0.0

    def reset_measurements(self) -> None:
        self.latency.reset()
        self._paint_times.clear()
        self.frames_painted = 0
        self.frames_set = 0
        self.first_paint_monotonic = None
        self.last_paint_monotonic = None

    # --- painting ---------------------------------------------------------------------

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        return QSize(800, 450)

    def image_rect(self) -> QRectF:
        """Where the frame is drawn inside the widget (aspect ratio kept, centred)."""
        if self._qimage is None:
            return QRectF()
        iw, ih = self._qimage.width(), self._qimage.height()
        ww, wh = self.width(), self.height()
        if iw <= 0 or ih <= 0 or ww <= 0 or wh <= 0:
            return QRectF()
        scale = min(ww / iw, wh / ih)
        w, h = iw * scale, ih * scale
        return QRectF((ww - w) / 2.0, (wh - h) / 2.0, w, h)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#111111"))
            if self._qimage is None or self._event is None:
                if self._overlay is None:
                    painter.setPen(QColor("#BBBBBB"))
                    painter.drawText(self.rect().adjusted(16, 16, -16, -16),
                                     Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
                else:
                    self._paint_overlay(painter, QRectF(self.rect()))
                return
            target = self.image_rect()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(target, self._qimage)
            self._paint_boxes(painter, target)
            if self._overlay is not None:
                self._paint_overlay(painter, target)
        finally:
            painter.end()
        self._measure_paint()

    def _paint_boxes(self, painter: QPainter, target: QRectF) -> None:
        """Every box, then every label: one pen and one ``drawRects`` call per colour, each
        label a cached pixmap (text and background drawn once), no label on a box too small
        on screen to carry one. The screen rectangles come from the boxes' arrays in a few
        NumPy operations; Python touches each box once, to make its ``QRectF``. Measured in
        ``bench/bench_paint.py``."""
        self.labels_painted = 0
        shown = self._shown
        if not len(shown) or self._qimage is None:
            return
        scale = target.width() / self._qimage.width()
        ox, oy, top_limit = target.x(), target.y(), target.top()
        rects = shown.xyxy * scale
        rects[:, 2:] -= rects[:, :2]  # x, y, w, h on screen
        rects[:, 0] += ox
        rects[:, 1] += oy
        rows = rects.tolist()
        boxes_by_colour: dict[str | None, list[QRectF]] = {}
        for dominant, (x, y, w, h) in zip(shown.dominants, rows):
            group = boxes_by_colour.get(dominant)
            if group is None:
                group = boxes_by_colour[dominant] = []
            group.append(QRectF(x, y, w, h))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for dominant, group in boxes_by_colour.items():
            painter.setPen(self._pens(box_colour(dominant))[1])
            painter.drawRects(group)
        labelled = np.flatnonzero(rects[:, 2] >= MIN_LABELLED_BOX_PX).tolist()
        if labelled:
            ids = shown.ids.tolist()
            for i in labelled:
                dominant, (x, y, _w, _h) = shown.dominants[i], rows[i]
                label = self._label(box_label(ids[i], dominant), box_colour(dominant))
                top = y - label.height if y - label.height >= top_limit else y
                painter.drawPixmap(QPointF(x, top), label.pixmap)
        self.labels_painted = len(labelled)

    def _label(self, text: str, colour_name: str) -> _Label:
        """The label ``text`` on its ``colour`` background, drawn once into a pixmap (a
        track's "#12 HAPPY" changes a few times a minute; a paint then only copies pixels)."""
        ratio = self.devicePixelRatioF()
        key = (text, colour_name, ratio)  # a window moved to a HiDPI screen gets sharp labels
        label = self._label_cache.get(key)
        if label is None:
            if len(self._label_cache) >= LABEL_CACHE_SIZE:
                self._label_cache.clear()  # tracks come and go all day: keep the cache bounded
            colour, _, text_pen = self._pens(colour_name)
            static = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), self._label_font)
            width = math.ceil(static.size().width()) + 2 * LABEL_PAD_X
            height = math.ceil(static.size().height()) + 2
            pixmap = QPixmap(round(width * ratio), round(height * ratio))
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(colour)
            text_painter = QPainter(pixmap)
            try:
                text_painter.setFont(self._label_font)
                text_painter.setPen(text_pen)
                text_painter.drawStaticText(QPointF(LABEL_PAD_X, 1), static)
            finally:
                text_painter.end()
            label = self._label_cache[key] = _Label(pixmap, width, height)
        return label

    def _paint_overlay(self, painter: QPainter, target: QRectF) -> None:
        """The notice on a dark band across the middle of the picture (readable on any frame)."""
        title, detail = self._overlay
        painter.fillRect(target, QColor(0, 0, 0, 110))  # dim the frozen picture
        title_metrics = QFontMetrics(self._overlay_title_font)
        detail_metrics = QFontMetrics(self._label_font)
        flags = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
        detail_h = detail_metrics.boundingRect(QRectF(0, 0, max(10.0, target.width() - 24), 10_000).toRect(),
                                               int(flags), detail).height() if detail else 0
        band_h = title_metrics.height() + (detail_h + 12 if detail else 0) + 28
        band = QRectF(target.left(), target.center().y() - band_h / 2, target.width(), band_h)
        painter.fillRect(band, QColor(20, 20, 20, 215))
        painter.setPen(QColor("#FFFFFF"))
        painter.setFont(self._overlay_title_font)
        title_rect = QRectF(band.left(), band.top() + 12, band.width(), title_metrics.height())
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignCenter, title)
        if detail:
            painter.setFont(self._label_font)
            painter.setPen(QColor("#E0E0E0"))
            detail_rect = QRectF(band.left() + 12, title_rect.bottom() + 8, band.width() - 24, band.bottom() - title_rect.bottom() - 12)
            painter.drawText(detail_rect, flags, detail)

    def _pens(self, colour_name: str) -> tuple[QColor, QPen, QPen]:
        """(colour, box pen, label text pen) per colour, made once (paint runs 30 times a second)."""
        cached = self._pen_cache.get(colour_name)
        if cached is None:
            colour = QColor(colour_name)
            text = QColor("#000000") if colour.lightness() > 110 else QColor("#FFFFFF")
            cached = self._pen_cache[colour_name] = (colour, QPen(colour, 2), QPen(text))
        return cached

    def _measure_paint(self) -> None:
        event = self._event
        # Which frame was painted last, by its serial number (not a reference to the event:
        # that kept a second 25 MB 4K frame alive until the next paint).
        if event is None or self._painted_serial == self._set_serial:
            return  # a repaint of the same frame (resize, expose) is not a displayed frame
        now = time.monotonic()
        self._painted_serial = self._set_serial
        self.frames_painted += 1
        self._paint_times.append(now)
        if self.first_paint_monotonic is None:
            self.first_paint_monotonic = now
        self.last_paint_monotonic = now
        self.latency.add(now - event.captured_monotonic)
