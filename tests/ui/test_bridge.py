"""The signal bridge: worker-thread calls become GUI-thread signals; stale frames are dropped."""

from __future__ import annotations

import threading
import time

import numpy as np

from crowdmood_gui.core.events import ErrorEvent, FrameEvent, SourceEvent, StatsEvent, TimelineRow
from crowdmood_gui.ui.bridge import SignalBridge


def frame(i: int) -> FrameEvent:
    return FrameEvent(frame_index=i, media_time_s=i / 30, captured_monotonic=time.monotonic(), image=np.zeros((4, 4, 3), np.uint8))


def test_a_burst_of_frames_queues_one_signal_and_keeps_only_the_newest(qtbot):
    bridge = SignalBridge()
    seen = []
    bridge.frame_ready.connect(lambda: seen.append(bridge.take_frame()))

    worker = threading.Thread(target=lambda: [bridge.on_frame(frame(i)) for i in range(100)])
    worker.start()
    worker.join()
    assert seen == []  # nothing runs before the GUI thread gets back to its loop
    qtbot.waitUntil(lambda: len(seen) >= 1)
    qtbot.wait(50)

    assert len(seen) == 1  # one queued signal for 100 frames
    assert seen[0].frame_index == 99  # the newest
    assert bridge.frames_received == 100
    assert bridge.frames_dropped == 99
    assert bridge.take_frame() is None


def test_a_frame_after_the_slot_was_taken_signals_again(qtbot):
    bridge = SignalBridge()
    with qtbot.waitSignal(bridge.frame_ready, timeout=1000):
        bridge.on_frame(frame(1))
    assert bridge.take_frame().frame_index == 1
    with qtbot.waitSignal(bridge.frame_ready, timeout=1000):
        bridge.on_frame(frame(2))
    assert bridge.take_frame().frame_index == 2


def test_other_events_arrive_in_order_on_the_gui_thread(qtbot):
    bridge = SignalBridge()
    got = []
    main = threading.current_thread()
    bridge.source_changed.connect(lambda e: got.append(("source", e.state, threading.current_thread() is main)))
    bridge.stats_updated.connect(lambda e: got.append(("stats", e.faces, threading.current_thread() is main)))
    bridge.timeline_updated.connect(lambda p, rows: got.append(("timeline", p, len(rows))))
    bridge.error_raised.connect(lambda e: got.append(("error", e.message, threading.current_thread() is main)))
    bridge.finished.connect(lambda: got.append(("finished",)))

    def work():
        bridge.on_source(SourceEvent("open", width=640, height=360, fps=30))
        bridge.on_stats(StatsEvent(detection_fps=10, faces=2, tracks=2, analysis_queue=0, records_analysed=0))
        bridge.on_timeline(10, [TimelineRow(t=0, period_s=10, faces=1, tracks=1, analysed=1)])
        bridge.on_error(ErrorEvent("disk full"))
        bridge.on_finished()

    threading.Thread(target=work).start()
    qtbot.waitUntil(lambda: len(got) == 5)
    assert got == [
        ("source", "open", True),
        ("stats", 2, True),
        ("timeline", 10, 1),
        ("error", "disk full", True),
        ("finished",),
    ]


def test_calls_from_the_gui_thread_are_still_queued_not_reentrant(qtbot):
    bridge = SignalBridge()
    got = []
    bridge.finished.connect(lambda: got.append("finished"))
    bridge.on_finished()  # e.g. pipeline.stop() called on the GUI thread
    assert got == []
    qtbot.waitUntil(lambda: got == ["finished"])


def test_after_detach_nothing_reaches_the_widgets_not_even_queued_events(qtbot):
    bridge = SignalBridge()
    got = []
    bridge.stats_updated.connect(got.append)
    bridge.frame_ready.connect(lambda: got.append("frame"))
    bridge.on_stats(StatsEvent(detection_fps=1, faces=0, tracks=0, analysis_queue=0, records_analysed=0))
    bridge.on_frame(frame(1))
    bridge.detach()  # before the GUI thread delivered them
    bridge.on_frame(frame(2))
    qtbot.wait(50)
    assert got == []
    assert bridge.take_frame() is None
