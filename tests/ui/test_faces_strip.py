"""Recent faces: bounded, newest first, and a privacy switch that forgets."""

from __future__ import annotations

import numpy as np

from crowdmood_gui.core.events import RecordEvent
from crowdmood_gui.ui.faces_strip import RecentFacesStrip

from fakes import make_record


def record(track_id, dominant="HAPPY", thumb=True):
    return RecordEvent(
        record=make_record(track_id, dominant),
        media_time_s=track_id,
        thumbnail=np.full((60, 48, 3), 200, np.uint8) if thumb else None,
    )


def test_newest_first_and_bounded(qtbot):
    strip = RecentFacesStrip(max_faces=5)
    qtbot.addWidget(strip)
    for i in range(1, 21):
        strip.add_record(record(i))
    assert strip.count() == 5
    assert [f.track_id for f in strip.faces] == [20, 19, 18, 17, 16]
    assert strip.faces[0].dominant == "HAPPY"
    assert strip.faces[0].pixmap is not None and strip.faces[0].pixmap.height() <= 72


def test_tile_shows_the_dominant_expression(qtbot):
    strip = RecentFacesStrip(max_faces=3)
    qtbot.addWidget(strip)
    strip.show()
    strip.add_record(record(4, "SURPRISED"))
    strip.add_record(record(5, "CALM", thumb=False))  # within the refresh interval: shown at its end
    qtbot.waitUntil(lambda: [t.caption.text() for t in strip._tiles if t.isVisible()] == ["#5 calm", "#4 surprised"])
    from crowdmood_gui.core.emotions import EMOTION_COLOURS

    tiles = [t for t in strip._tiles if t.isVisible()]
    assert [t.border.name().upper() for t in tiles] == [EMOTION_COLOURS["CALM"], EMOTION_COLOURS["SURPRISED"]]
    image = tiles[1].grab().toImage()  # the border is painted in the expression's colour
    assert image.pixelColor(image.width() // 2, 1).name().upper() == EMOTION_COLOURS["SURPRISED"]
    thumb = tiles[1].image.grab().toImage()  # the face itself: the grey test crop, centred
    assert thumb.pixelColor(thumb.width() // 2, thumb.height() // 2).name() == "#c8c8c8"
    assert tiles[0].image.pixmap is None and tiles[0].image.text == "?"  # no crop: a "?"


def test_a_burst_of_records_redraws_the_tiles_once_more_at_the_end_of_the_interval(qtbot):
    # A 4K crowd sends ~60 records a second: redrawing twelve tiles for each one cost the GUI
    # thread more than the video's 576 boxes. The first record shows at once, the rest of the
    # burst together when the interval ends; only the faces shown become pixmaps.
    strip = RecentFacesStrip(max_faces=4)
    qtbot.addWidget(strip)
    strip.show()
    strip.add_record(record(1))
    assert strip.refreshes == 1 and [t.caption.text() for t in strip._tiles if t.isVisible()] == ["#1 happy"]
    for i in range(2, 101):
        strip.add_record(record(i))
    assert strip.refreshes == 1  # nothing redrawn during the burst
    qtbot.waitUntil(lambda: strip.refreshes == 2)
    assert [t.caption.text() for t in strip._tiles if t.isVisible()] == ["#100 happy", "#99 happy", "#98 happy", "#97 happy"]
    assert all(t.image.pixmap is not None for t in strip._tiles if t.isVisible())
    qtbot.wait(2 * 250 + 100)
    assert strip.refreshes == 2  # quiet again: no redraw without a new record


def test_privacy_switch_clears_and_ignores_until_switched_on(qtbot):
    strip = RecentFacesStrip()
    qtbot.addWidget(strip)
    strip.add_record(record(1))
    strip.set_showing(False)
    assert strip.count() == 0 and not strip.showing
    strip.add_record(record(2))
    assert strip.count() == 0
    strip.set_showing(True)
    strip.add_record(record(3))
    assert [f.track_id for f in strip.faces] == [3]


def _heap_in_use_bytes() -> int | None:
    """glibc's allocated heap bytes (mallinfo2), or None off glibc."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def test_painting_many_faces_keeps_no_thumbnail_behind(qtbot):
    # A QLabel showing a pixmap puts a copy in the process-wide QPixmapCache (10 MB) for
    # every new pixmap it paints: over a booth day the strip filled that cache with old
    # faces (+0.4 MB/min in the soak). Tiles paint their pixmap themselves; 400 faces
    # painted must leave the heap where 12 are (a cached copy each would be ~8 MB).
    import pytest

    if _heap_in_use_bytes() is None:
        pytest.skip("needs glibc's mallinfo2")
    strip = RecentFacesStrip(max_faces=12)
    qtbot.addWidget(strip)
    strip.show()

    def add_and_paint(i):
        event = record(i)
        event.thumbnail[:] = np.random.default_rng(i).integers(0, 255, event.thumbnail.shape, dtype=np.uint8)
        strip.add_record(event)
        strip.grab()  # paints every visible tile now, as the screen would

    for i in range(50):  # warm up: every tile, font and style cache in use
        add_and_paint(i)
    before = _heap_in_use_bytes()
    for i in range(50, 450):
        add_and_paint(i)
    grown_mb = (_heap_in_use_bytes() - before) / 1e6
    print(f"heap grew {grown_mb:.2f} MB over 400 faces")
    assert grown_mb < 1.5, f"heap grew {grown_mb:.1f} MB over 400 faces"
