"""The video view: what is drawn (boxes, ids, colours) and what is measured (fps, latency)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from crowdmood_gui.core.emotions import EMOTION_COLOURS
from crowdmood_gui.core.events import FrameEvent, TrackBox
from crowdmood_gui.ui.video_view import UNKNOWN_COLOUR, LatencyHistogram, VideoView, frame_to_qimage


def event(i=0, tracks=(), captured=None, shape=(360, 640, 3)):
    image = np.zeros(shape, np.uint8)
    return FrameEvent(i, i / 30, captured if captured is not None else time.monotonic(), image, tuple(tracks))


def test_boxes_carry_track_ids_and_the_dominant_expression_colour(qtbot):
    view = VideoView()
    qtbot.addWidget(view)
    view.set_frame(
        event(
            tracks=[
                TrackBox(7, 10, 20, 110, 140, 0.9, dominant="HAPPY"),
                TrackBox(8, 200, 20, 300, 140, 0.9, dominant=None),
            ]
        )
    )
    boxes = {b.track_id: b for b in view.last_boxes}
    assert set(boxes) == {7, 8}
    assert boxes[7].colour == EMOTION_COLOURS["HAPPY"]
    assert boxes[7].label == "#7 HAPPY"
    assert (boxes[7].x1, boxes[7].y1, boxes[7].x2, boxes[7].y2) == (10, 20, 110, 140)
    assert boxes[8].colour == UNKNOWN_COLOUR  # grey until the expression is known
    assert boxes[8].label == "#8"


def test_the_box_is_painted_where_the_face_is(qtbot):
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(640, 360)  # 1:1 scale: frame pixels are widget pixels
    view.show()
    qtbot.waitExposed(view)
    view.set_frame(event(tracks=[TrackBox(1, 100, 100, 200, 200, 0.9, dominant="SAD")]))
    qtbot.waitUntil(lambda: view.frames_painted == 1)
    grabbed = view.grab().toImage()
    target = view.image_rect()
    edge = grabbed.pixelColor(int(target.x() + 100), int(target.y() + 150))  # left edge of the box
    inside = grabbed.pixelColor(int(target.x() + 150), int(target.y() + 150))
    assert edge.name().upper() == EMOTION_COLOURS["SAD"].upper()
    assert inside.name() == "#000000"


def test_frame_to_qimage_wraps_the_pixels_without_copying():
    image = np.zeros((2, 3, 3), np.uint8)
    image[1, 2] = (255, 0, 0)  # BGR: blue
    qimage, buffer = frame_to_qimage(image)
    assert buffer is image
    assert qimage.pixelColor(2, 1).name() == "#0000ff"
    image[0, 0] = (0, 0, 255)  # change the array: the image sees it (no copy)
    assert qimage.pixelColor(0, 0).name() == "#ff0000"


def test_a_non_contiguous_frame_is_copied_once():
    image = np.zeros((4, 8, 3), np.uint8)[:, ::2]
    qimage, buffer = frame_to_qimage(image)
    assert buffer.flags.c_contiguous and qimage.width() == 4


def test_paint_measures_display_fps_and_frame_to_paint_latency(qtbot):
    view = VideoView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    for i in range(10):
        view.set_frame(event(i, captured=time.monotonic() - 0.040))  # captured 40 ms ago
        qtbot.waitUntil(lambda i=i: view.frames_painted == i + 1)
        qtbot.wait(20)
    assert view.latency.count == 10
    assert 40 <= view.latency.percentile(50) <= 120
    assert view.display_fps() > 5
    assert view.mean_display_fps() > 5


def test_repainting_the_same_frame_is_not_counted(qtbot):
    view = VideoView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.set_frame(event(1))
    qtbot.waitUntil(lambda: view.frames_painted == 1)
    view.repaint()
    view.resize(500, 300)
    qtbot.wait(30)
    assert view.frames_painted == 1


def test_clear_shows_a_message_and_forgets_the_boxes(qtbot):
    view = VideoView()
    qtbot.addWidget(view)
    view.set_frame(event(tracks=[TrackBox(1, 0, 0, 10, 10, 0.9)]))
    view.clear("Opening camera 0…")
    assert view.last_boxes == () and view.current_frame is None
    assert view.placeholder == "Opening camera 0…"


@pytest.mark.parametrize(
    ("samples_ms", "p50", "p95"),
    [([10] * 50 + [100] * 50, 10, 100), (list(range(1, 101)), 50, 95), ([20000], 10000, 10000)],
)
def test_latency_histogram_percentiles(samples_ms, p50, p95):
    hist = LatencyHistogram()
    assert hist.percentile(50) is None
    for ms in samples_ms:
        hist.add(ms / 1000)
    assert hist.percentile(50) == p50
    assert hist.percentile(95) == p95


def crowd_tracks(n=250, size=30, cols=16, cell=(120, 67)):
    """``n`` boxes of ``size`` px on a grid over a 1920×1080 frame, every expression colour."""
    kinds = [*EMOTION_COLOURS, None]
    return [
        TrackBox(i + 1, 40 + (i % cols) * cell[0], 20 + (i // cols) * cell[1],
                 40 + (i % cols) * cell[0] + size, 20 + (i // cols) * cell[1] + size, 0.9,
                 dominant=kinds[i % len(kinds)])
        for i in range(n)
    ]


def test_250_faces_every_box_is_painted_in_its_colour_with_its_label(qtbot):
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(1920, 1080)  # 1:1 scale
    view.show()
    qtbot.waitExposed(view)
    tracks = crowd_tracks()
    view.set_frame(event(tracks=tracks, shape=(1080, 1920, 3)))
    qtbot.waitUntil(lambda: view.frames_painted == 1)
    grabbed = view.grab().toImage()
    target = view.image_rect()
    assert target.width() == 1920
    for box in view.last_boxes:
        mid_y = int(target.y() + (box.y1 + box.y2) / 2)
        left = grabbed.pixelColor(int(target.x() + box.x1), mid_y)
        right = grabbed.pixelColor(int(target.x() + box.x2) - 1, mid_y)
        inside = grabbed.pixelColor(int(target.x() + (box.x1 + box.x2) / 2), mid_y)
        assert left.name().upper() == right.name().upper() == box.colour.upper(), box
        assert inside.name() == "#000000"
        # the label's background sits on the box, above it
        above = grabbed.pixelColor(int(target.x() + box.x1) + 2, int(target.y() + box.y1) - 3)
        assert above.name().upper() == box.colour.upper(), box
    assert view.labels_painted == 250


def test_tiny_boxes_are_painted_without_labels(qtbot):
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(1920, 1080)
    view.show()
    qtbot.waitExposed(view)
    tiny = crowd_tracks(n=20, size=16)
    big = [TrackBox(999, 900, 900, 1000, 1000, 0.9, dominant="HAPPY")]
    view.set_frame(event(tracks=tiny + big, shape=(1080, 1920, 3)))
    qtbot.waitUntil(lambda: view.frames_painted == 1)
    grabbed = view.grab().toImage()
    target = view.image_rect()
    for box in view.last_boxes[:-1]:
        left = grabbed.pixelColor(int(target.x() + box.x1), int(target.y() + (box.y1 + box.y2) / 2))
        above = grabbed.pixelColor(int(target.x() + box.x1) + 2, int(target.y() + box.y1) - 3)
        assert left.name().upper() == box.colour.upper()
        assert above.name() == "#000000"  # no label
    assert view.labels_painted == 1


def test_a_label_is_laid_out_once_and_the_cache_stays_bounded(qtbot, monkeypatch):
    import crowdmood_gui.ui.video_view as video_view

    monkeypatch.setattr(video_view, "LABEL_CACHE_SIZE", 8)
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(640, 360)
    view.show()
    qtbot.waitExposed(view)
    for i in range(30):
        view.set_frame(event(i, tracks=[TrackBox(i, 100, 100, 200, 200, 0.9, dominant="SAD"),
                                        TrackBox(1, 300, 100, 400, 200, 0.9, dominant="SAD")]))
        qtbot.waitUntil(lambda i=i: view.frames_painted == i + 1)
        assert view.labels_painted == 2
        assert len(view._label_cache) <= 8
    first = view._label("#1 SAD", EMOTION_COLOURS["SAD"])
    assert view._label("#1 SAD", EMOTION_COLOURS["SAD"]) is first  # drawn once, reused by every paint
