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
    strip.add_record(record(5, "CALM", thumb=False))
    captions = [t.caption.text() for t in strip._tiles if t.isVisible()]
    assert captions == ["#5 calm", "#4 surprised"]
    from crowdmood_gui.core.emotions import EMOTION_COLOURS

    tiles = [t for t in strip._tiles if t.isVisible()]
    assert [t.border.name().upper() for t in tiles] == [EMOTION_COLOURS["CALM"], EMOTION_COLOURS["SURPRISED"]]
    image = tiles[1].grab().toImage()  # the border is painted in the expression's colour
    assert image.pixelColor(image.width() // 2, 1).name().upper() == EMOTION_COLOURS["SURPRISED"]


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
