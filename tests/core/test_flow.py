"""Each known face measured from the image between detections (#12, live 4K): optical flow
keeps a box on a face whose motion changes between two detections a second apart, does
not measure a covered face, and is never taken for a detection."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from crowd_grid import Grid, match_counts, read_clip, reference_boxes
from crowdmood_gui.core.config import DetectionConfig
from crowdmood_gui.core.crowd_detection import CrowdDetector
from crowdmood_gui.core.detection import FaceDetector
from crowdmood_gui.core.flow import FaceFlow, flow_shrink
from crowdmood_gui.core.tracking import FaceTracker

FPS = 30.0
DETECT_EVERY = 30  # one detection a second: the flow carries the box in between
SPEED = 150.0  # px/s


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(threads=2)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    image = cv2.imread(str(Path(__file__).parents[1] / "data" / "single_face.jpg"))
    return cv2.resize(image, (120, 118), interpolation=cv2.INTER_AREA)


def background(seed: int = 3) -> np.ndarray:
    """A textured, still background (a plain one would make a covered face trivially flat)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(40, 200, (45, 80, 3), dtype=np.uint8)
    return cv2.resize(noise, (640, 360), interpolation=cv2.INTER_CUBIC)


def zigzag_x(index: int) -> float:
    """The face's left edge: 150 px/s right, turning back every 0.6 s (between two
    detections a second apart, the velocity a detection gave is wrong half the time)."""
    t = index / FPS
    period = 1.2
    phase = (t % period) / period
    leg = SPEED * period / 2
    return 150 + (leg * 2 * phase if phase < 0.5 else leg * 2 * (1 - phase))


def frame_at(face: np.ndarray, index: int, covered_from: int | None = None) -> tuple[np.ndarray, float]:
    image = background()
    x = zigzag_x(index)
    if covered_from is None or index < covered_from:
        xi = int(round(x))
        image[120:238, xi:xi + 120] = face
    return image, x


def run(detector, face, *, flow_on: bool, frames: int = 120, covered_from: int | None = None,
        refresh_hz: float = 30.0):
    """Detections every DETECT_EVERY frames; with ``flow_on`` a flow step on every frame
    between (refresh_hz 30: each frame is due). Returns per frame: (index, truth centre x,
    box centre x or None, whether the track was fresh, whether the flow measured it)."""
    tracker = FaceTracker(max_missed_s=0.5)
    flow = FaceFlow(refresh_hz)
    out = []
    reference = None
    for index in range(frames):
        image, x = frame_at(face, index, covered_from)
        t = index / FPS
        detected = index % DETECT_EVERY == 0
        dets = detector.detect(image) if detected else []
        tracker.update(dets, t, covered=None if detected else [])
        measured = set()
        if flow_on:
            step = flow.step(image, t, tracker.active_tracks, detected=detected)
            tracker.measure(step.measured, t, lost=step.failed)
            measured = set(step.measured)
        tracks = tracker.active_tracks
        if reference is None and tracks:
            reference = tracks[0].center[0] - x  # the face's centre inside the pasted image
        if tracks:
            (track,) = tracks
            out.append((index, x + reference, track.center[0], track.fresh, track.id in measured, track))
        else:
            out.append((index, x + reference, None, False, False, None))
    return out, tracker


def test_flow_keeps_the_box_on_a_face_whose_motion_changes_between_detections(detector, face):
    with_flow, tracker = run(detector, face, flow_on=True)
    without, _ = run(detector, face, flow_on=False)
    between = lambda rows: [abs(box - truth) for i, truth, box, *_ in rows  # noqa: E731
                            if i >= DETECT_EVERY and i % DETECT_EVERY and box is not None]
    err_flow, err_kalman = between(with_flow), between(without)
    assert tracker.total_tracks == 1
    # Without the flow the box follows the velocity of the last detection (or holds):
    # the face turns back in between, so it drifts tens of pixels off.
    assert max(err_kalman) > 40
    # With the flow it stays within a few pixels of the face on every frame.
    assert np.median(err_flow) < 2.0 and max(err_flow) < 6.0, (np.median(err_flow), max(err_flow))
    assert sum(measured for *_, measured, _ in with_flow[DETECT_EVERY:]) >= 0.9 * (len(with_flow) - DETECT_EVERY - 3)


def test_a_flow_measurement_is_never_a_detection(detector, face):
    rows, tracker = run(detector, face, flow_on=True)
    # fresh (a box the detector found in that frame: crops are cut there) only on detection frames
    assert [i for i, _, _, fresh, *_ in rows if fresh] == [i for i in range(len(rows)) if i % DETECT_EVERY == 0]
    (track,) = tracker.active_tracks
    assert track.flow_measures > 80 and track.hits == len(rows) // DETECT_EVERY
    # measured between detections; last_seen_s stays the last detection's time
    assert track.last_seen_s == pytest.approx((len(rows) - 1) // DETECT_EVERY * DETECT_EVERY / FPS)
    assert track.last_measured_s == pytest.approx((len(rows) - 1) / FPS)


def test_tracker_measure_moves_the_box_and_touches_nothing_a_detection_drives():
    from types import SimpleNamespace

    tracker = FaceTracker(max_missed_s=0.3)
    tracker.update([SimpleNamespace(x1=100, y1=100, x2=140, y2=150, score=0.9)], 0.0)
    (track,) = tracker.active_tracks
    tracker.update([], 0.2, covered=None)  # looked for everywhere, not found: missed once
    assert track.missed == 1 and not track.fresh
    tracker.measure({track.id: (130.0, 125.0), 999: (0.0, 0.0)}, 0.25)
    assert track.center[0] > 122 and track.width == pytest.approx(40) and track.height == pytest.approx(50)
    assert (track.fresh, track.missed, track.hits, track.last_seen_s) == (False, 1, 1, 0.0)
    assert track.last_measured_s == 0.25
    tracker.update([], 0.5, covered=None)  # missed twice and over max_missed_s: ends as before
    assert tracker.active_tracks == [] and tracker.total_tracks == 1


def test_after_a_long_cycle_a_face_is_measured_on_the_cycle_frame_too(detector, face):
    # The 4K window's rhythm: a flow step on its own frame, then a detection cycle on the
    # next frame (50 ms later) that does not re-detect this face and lasts 250 ms. The
    # step on the cycle's frame must take a face measured 50 ms before, as the next step
    # comes 250 ms later: without it the face was measured once per 300 ms (3.3 Hz).
    image, _ = frame_at(face, 0)
    tracker = FaceTracker(max_missed_s=5.0)
    flow = FaceFlow(5.0)
    tracker.update(detector.detect(image), 0.0)
    flow.step(image, 0.0, tracker.active_tracks, detected=True)
    (track,) = tracker.active_tracks
    measured_at = []
    for k in range(12):
        for t, cycle in ((0.25 + 0.3 * k, False), (0.30 + 0.3 * k, True)):
            tracker.update([], t, covered=[])  # a cycle elsewhere in the frame, or a flow frame
            step = flow.step(image, t, tracker.active_tracks, detected=cycle)
            tracker.measure(step.measured, t, lost=step.failed)
            if track.id in step.measured:
                measured_at.append(t)
    late = [t for t in measured_at if t >= 1.0]
    rate = (len(late) - 1) / (late[-1] - late[0])
    assert rate >= 5.0, measured_at
    assert max(np.diff(measured_at)) <= 0.25 + 1e-9


def test_a_covered_face_is_not_measured_and_ends_as_without_flow(detector, face):
    covered_from = 45  # half-way between two detections
    rows, tracker = run(detector, face, flow_on=True, covered_from=covered_from, frames=100)
    plain, plain_tracker = run(detector, face, flow_on=False, covered_from=covered_from, frames=100)
    measured_after = [i for i, _, _, _, measured, _ in rows if measured and i >= covered_from]
    assert measured_after == []  # the background in its place is not "the face moved"
    # it coasts, then ends exactly when it does without the flow
    alive = lambda rs: [i for i, _, box, *_ in rs if box is not None]  # noqa: E731
    assert alive(rows) == alive(plain) and max(alive(rows)) < 100 - 1
    assert tracker.total_tracks == plain_tracker.total_tracks == 1


def test_a_lost_face_is_re_detected_at_the_full_rate_and_a_measured_one_at_the_flow_rate():
    from types import SimpleNamespace

    config = DetectionConfig(refresh_hz=5.0, flow_redetect_hz=2.0)
    crowd = CrowdDetector(None, config, realtime=True)
    crowd._sweeps = 1  # after the first sweep
    crowd.plan = SimpleNamespace(reliable_face_px=100.0, tiles=())
    tracker = FaceTracker()
    tracker.update([SimpleNamespace(x1=10 + 50 * i, y1=10, x2=40 + 50 * i, y2=40, score=0.9) for i in range(3)], 0.0)
    kept, lost, unknown = tracker.active_tracks
    tracker.measure({kept.id: kept.center, lost.id: lost.center}, 0.1)
    tracker.measure({kept.id: kept.center}, 0.2, lost=[lost.id])
    crowd.config = config
    due = lambda t: {x.id for x in crowd._due(crowd.plan, t, tracker.active_tracks, 1e9)}  # noqa: E731
    crowd._cycle_gap_s = 0.0
    crowd.plan = SimpleNamespace(reliable_face_px=100.0, tiles=(1,))
    assert crowd.flow_measures is False  # nobody runs the flow: every face at refresh_hz
    assert len(due(0.25)) == 3
    crowd.with_flow = True
    assert crowd.flow_measures
    crowd.plan = SimpleNamespace(reliable_face_px=100.0, tiles=())
    assert crowd.flow_measures is False  # no tiles (640x360): no refresh, no flow
    crowd.plan = SimpleNamespace(reliable_face_px=100.0, tiles=(1,))
    # ... and with tiles a face the flow measures waits for 1 / flow_redetect_hz
    tracker.measure({}, 0.2, lost=[unknown.id])  # never measured: the next flow step reports it
    assert due(0.25) == {lost.id, unknown.id}
    assert due(0.5) == {lost.id, unknown.id, kept.id}
    # analysis mode (no flow) keeps the refresh period for every face
    analysis = CrowdDetector(None, config, realtime=False)
    analysis.with_flow, analysis.plan, analysis._sweeps = True, crowd.plan, 1
    assert not analysis.flow_measures
    crowd._sweeps = 0  # the first sweep runs as without the flow: the crowd is found first
    assert not crowd.flow_measures and len(due(0.25)) == 3


def test_flow_shrinks_the_frame_so_faces_stay_big_enough():
    from types import SimpleNamespace

    faces = lambda side: [SimpleNamespace(width=side, height=side * 1.4)] * 3  # noqa: E731
    assert flow_shrink(faces(28)) == 1  # 1080p crowd: native
    assert flow_shrink(faces(37)) == 2  # 4K crowd: half
    assert flow_shrink(faces(80)) == 4
    assert flow_shrink([]) == 1


@pytest.fixture(scope="module")
def grid16():
    frames = read_clip()
    return Grid(frames, reference_boxes(frames), n=16, width=1920, height=1080)


@pytest.mark.parametrize("redetect_hz", [2.0, 5.0])
def test_flow_on_the_16x16_grid_keeps_recall_and_identity(grid16, redetect_hz):
    # The live schedule on the 1080p 16x16 grid, a frame every 2 (67 ms), with the flow:
    # every face still found and kept under one id, and measured at least refresh_hz.
    # flow_redetect_hz 2: the flow measures between re-detections; 5 (the default): the
    # detection keeps up here, so the flow has nothing to measure and re-detection is as before.
    grid = grid16
    config = DetectionConfig(live_cycle_ms=5000, live_full_cycle_s=0.4, flow_redetect_hz=redetect_hz)
    crowd = CrowdDetector(FaceDetector(threads=2), config, realtime=True)
    crowd.with_flow = True
    tracker = FaceTracker()
    flow = FaceFlow(config.refresh_hz)
    ids_by_cell: dict[int, set[int]] = {}
    measured: dict[int, int] = {}
    redetected: dict[int, int] = {}
    flowed = 0
    for index in range(0, 60, 2):
        t = index / FPS
        image, truth = grid.frame(index)
        detections, report = crowd.detect(image, t, tracker.active_tracks)
        visible = tracker.update(detections, t, covered=report.coverage)
        step = flow.step(image, t, tracker.active_tracks, detected=report.ran)
        tracker.measure(step.measured, t, lost=step.failed)
        flowed += len(step.measured)
        found, false, which = match_counts([v.box for v in visible], truth)
        assert false <= 0.02 * 256
        if t >= 0.5:
            assert found >= 0.95 * 256, (index, found)
            for track in visible:
                measured[track.id] = measured.get(track.id, 0) + (track.fresh or track.id in step.measured)
                redetected[track.id] = redetected.get(track.id, 0) + track.fresh
        for track, cell in zip(visible, which):
            if cell >= 0:
                ids_by_cell.setdefault(cell, set()).add(track.id)
    span = 58 / FPS - 0.5
    if redetect_hz < config.refresh_hz:
        assert flowed > 256  # the flow did measure
    else:
        assert flowed == 0 and min(redetected.values()) >= 5 * span  # re-detection as without the flow
    assert tracker.total_tracks == 256
    assert all(len(ids) == 1 for ids in ids_by_cell.values())
    counts = np.array(list(measured.values()))
    # nearly every face measured at refresh_hz; one the flow lost waits for its re-detection
    assert len(measured) == 256 and np.mean(counts >= 5 * span * 0.9) >= 0.95 and counts.min() >= 3 * span, sorted(counts)[:5]


def test_flow_settings_are_validated():
    from pydantic import ValidationError

    assert DetectionConfig().flow_refresh is True and DetectionConfig().flow_redetect_hz == 5.0
    for bad in ({"flow_redetect_hz": 0}, {"flow_redetect_hz": 100}, {"flow_refresh": "sometimes"}):
        with pytest.raises(ValidationError):
            DetectionConfig(**bad)
