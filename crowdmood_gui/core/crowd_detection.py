"""Faces of a crowd at a distance: the whole frame at full resolution, covered over time.

One :class:`FaceDetector` pass over a whole 1080p frame at native resolution costs about
0.4 s on two loaded cores, and shrinking the frame to 640 px loses every face under about
48 px (field notes §8). :class:`CrowdDetector` runs, per *detection cycle*:

1. the **low-resolution pass** over the whole frame (``detection.max_side``): large and
   new near faces, every cycle;
2. (live) a **refresh** of the known small faces: a square region around each track's
   predicted box, all packed into one mosaic image and detected in one forward pass at
   the tiles' resolution, most overdue first, within the cycle's budget;
3. the **tile sweep**: the frame cut into overlapping tiles at the tiles' resolution,
   visited round-robin, as many per cycle as the budget allows (live: measured ms per
   tile; analysis: a fixed share so a sweep takes ``analysis_sweep_s`` of media).

Live, once the first sweep is done, the refresh comes first: while known faces are due, a
cycle only refreshes them (every size, no pass 1 or 3); a full cycle (tiles first, then the
due faces they did not see) runs when none is due or when full cycles fell under
``live_sweep_share`` of the recent compute, never sooner than ``live_full_cycle_s``.

Detections of the three passes are merged with NMS; the tracker is told where each pass
looked (:class:`~crowdmood_gui.core.tracking.Coverage`) so a face outside this cycle's
tiles coasts on its prediction instead of counting as missed.

No tiles are needed when the low-resolution pass already sees ``smallest_face_px``
(a 640x360 source: the pass is at native size): the cycle is then exactly the old one
pass per frame, at the old cost.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from crowdmood_gui.core.config import DetectionConfig
from crowdmood_gui.core.detection import MEAN_BGR, Detection, FaceDetector, nms, shift_detection
from crowdmood_gui.core.tracking import CUT_MARGIN_PX, Coverage, Track, seen_by

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2, integer frame pixels, exclusive ends

# The smallest face (short side, pixels at detection resolution) RetinaFace-mnet0.25 finds
# reliably: 48 px faces in a 1080p frame shrunk to 640 (1/3) are found at 91 % (§8).
RELIABLE_FACE_AT_DETECTION_PX = 16
# The tiles run at the resolution where ``smallest_face_px`` becomes this many pixels:
# 24 px faces at native size are found at 100 %, at 2/3 (16 px) only 82 % (§8).
TILE_FACE_PX = 24
# Neutral border around each refresh region in the mosaic. The mosaic's pixels are the
# refresh's whole cost: on the 1080p 16x16 grid (256 faces of 28 px, predictions 200 ms
# old) its 256 regions cost 117 ms with 1.5x regions, faces at 24 px and a 4 px border
# (1.13 MP), 47 ms with 1.25x, 20 px and 2 px (0.50 MP), every face found in both, no false
# positive; faces at 16 px lose 4 % (measured with the bundled detector, see the README).
MOSAIC_PAD_PX = 2
# A refresh region is a square this many times the face's longer side, around its predicted
# box: room for a prediction an eighth of a face off each way.
REFRESH_REGION = 1.25
# A known face is re-detected with its short side brought down to this (never up): the
# tiles find 18 px faces at 99.7-100 % on the grid clips (bench/results/crowd.json).
REFRESH_FACE_PX = 20.0
EDGE_PX = CUT_MARGIN_PX  # a box this close to a cut edge is a face cut in two: its whole is elsewhere


def _splits(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Evenly spread segments of about ``tile`` px covering ``[0, length)``, neighbours
    overlapping by at least ``overlap``."""
    if length <= tile:
        return [(0, length)]
    overlap = min(overlap, tile // 2)
    count = math.ceil((length - overlap) / (tile - overlap))
    size = min(length, math.ceil((length + (count - 1) * overlap) / count))
    step = (length - size) / (count - 1)
    return [(round(i * step), round(i * step) + size) for i in range(count)]


def tile_grid(width: int, height: int, tile_side: int, overlap: int) -> list[Rect]:
    """Overlapping tiles covering a ``width`` x ``height`` frame, row by row."""
    return [(x1, y1, x2, y2) for y1, y2 in _splits(height, tile_side, overlap)
            for x1, x2 in _splits(width, tile_side, overlap)]


@dataclass(frozen=True, slots=True)
class CoveragePlan:
    """How one source's frames are covered; computed once per frame size."""

    width: int
    height: int
    global_scale: float  # the low-resolution pass: detection px per source px
    reliable_face_px: float  # the smallest face the low-resolution pass finds, source px
    tile_scale: float  # the tiles and refresh regions: detection px per source px
    tile_max_side: int  # ``max_side`` for a tile's detect call (0 = native)
    overlap_px: int
    tiles: tuple[Rect, ...] = ()  # empty: the low-resolution pass sees every wanted face

    @classmethod
    def for_frame(cls, width: int, height: int, config: DetectionConfig) -> "CoveragePlan":
        global_scale = min(1.0, config.max_side / max(width, height))
        reliable = RELIABLE_FACE_AT_DETECTION_PX / global_scale
        tile_scale = min(1.0, TILE_FACE_PX / config.smallest_face_px)
        overlap = config.tile_overlap_px
        if overlap is None:
            overlap = math.ceil(1.25 * reliable)  # the largest face the tiles are meant for
        if not config.tiling or reliable <= config.smallest_face_px:
            return cls(width, height, global_scale, reliable, tile_scale, 0, overlap)
        tile_side = max(32, round(config.tile_px / tile_scale))
        tiles = tuple(tile_grid(width, height, tile_side, overlap))
        tile_max_side = 0 if tile_scale >= 1.0 else max(32, round(tile_side * tile_scale))
        return cls(width, height, global_scale, reliable, tile_scale, tile_max_side, overlap, tiles)


@dataclass(slots=True)
class CycleReport:
    """What one detection cycle did (for stats, the benchmark and tests)."""

    ran: bool = False
    full: bool = True  # if ``ran``: the low-resolution pass and tiles ran; False: a refresh-only cycle (live)
    tiles: list[int] = field(default_factory=list)  # indices into the plan's tiles
    refreshed: list[int] = field(default_factory=list)  # track ids re-detected in the mosaic
    coverage: list[Coverage] = field(default_factory=list)
    compute_ms: float = 0.0
    rest_s: float = 0.0  # live: how long the caller should rest to keep the busy share


def _flow_kept(track: Track) -> bool:
    """The optical flow measures this face between its detections (live): until it fails
    on it (a face it never measured is reported lost at its next step)."""
    return not track.flow_lost and not track.missed


def _touches_cut(det: Detection, cell: Rect, frame: Rect) -> bool:
    """The box touches an edge of ``cell`` that is not an edge of the frame."""
    x1, y1, x2, y2 = cell
    return ((x1 > frame[0] and det.x1 <= x1 + EDGE_PX) or (y1 > frame[1] and det.y1 <= y1 + EDGE_PX)
            or (x2 < frame[2] and det.x2 >= x2 - EDGE_PX) or (y2 < frame[3] and det.y2 >= y2 - EDGE_PX))


def pack_mosaic(image: np.ndarray, regions: Sequence[Rect], scales: Sequence[float] | None = None,
                width: int = 768) -> tuple[np.ndarray, list[Rect]]:
    """Copy each region of ``image``, resized by its scale, into one mosaic (shelves,
    tallest first, a neutral border around each); returns the mosaic and each region's
    cell (x1, y1, x2, y2) in it."""
    import cv2

    pad = MOSAIC_PAD_PX
    scales = list(scales) if scales is not None else [1.0] * len(regions)
    sizes = [(max(1, round((r[2] - r[0]) * k)), max(1, round((r[3] - r[1]) * k))) for r, k in zip(regions, scales)]
    width = max(width, max(w for w, _ in sizes) + 2 * pad)
    order = sorted(range(len(regions)), key=lambda i: -sizes[i][1])
    cells: list[Rect] = [(0, 0, 0, 0)] * len(regions)
    x = y = shelf = 0
    for i in order:
        w, h = sizes[i]
        if x + w + 2 * pad > width:
            x, y, shelf = 0, y + shelf, 0
        cells[i] = (x + pad, y + pad, x + pad + w, y + pad + h)
        x += w + 2 * pad
        shelf = max(shelf, h + 2 * pad)
    # One cv2.remap for the whole mosaic, not a cv2.resize per region: every OpenCV call
    # releases the GIL, and with the window painting or the expression thread running
    # Python each re-acquisition waits up to the switch interval (5 ms). 256 resizes took
    # 10 ms alone and 33 ms beside one busy Python thread on the 1080p 16x16 grid.
    height = y + shelf
    map_x = np.full((height, width), -1.0, dtype=np.float32)  # outside the image: the border
    map_y = np.full((height, width), -1.0, dtype=np.float32)
    for (rx1, ry1, rx2, ry2), (cx1, cy1, cx2, cy2) in zip(regions, cells):
        # pixel centres of the cell mapped onto the region's (exact copy when unscaled)
        fx, fy = (rx2 - rx1) / (cx2 - cx1), (ry2 - ry1) / (cy2 - cy1)
        map_x[cy1:cy2, cx1:cx2] = rx1 + (np.arange(cx2 - cx1, dtype=np.float32) + 0.5) * fx - 0.5
        map_y[cy1:cy2, cx1:cx2] = (ry1 + (np.arange(cy2 - cy1, dtype=np.float32) + 0.5) * fy - 0.5)[:, None]
    border = tuple(float(v) for v in MEAN_BGR.astype(np.uint8))  # zero after the model's mean subtraction
    mosaic = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return mosaic, cells


class CrowdDetector:
    """Detection cycles over one source. ``realtime`` (live console): budgets in measured
    milliseconds; otherwise (analysis) a fixed schedule in media time, reproducible."""

    def __init__(self, detector: FaceDetector, config: DetectionConfig, *, realtime: bool) -> None:
        self.detector = detector
        self.config = config
        self.realtime = realtime
        self.plan: CoveragePlan | None = None
        self._next_tile = 0
        self._last_cycle_s: float | None = None
        self._sweeps = 0  # full sweeps completed
        self._tile_ms: float | None = None  # live: measured, smoothed
        self._ns_per_px: float | None = None  # live: measured on the mosaic, smoothed
        self._cycle_gap_s: float | None = None  # live: media seconds between cycles, smoothed
        self._last_full_s: float | None = None  # live: media time of the last full cycle
        self._full_ms = 0.0  # live: recent compute of full cycles (decaying sum)
        self._refresh_ms = 0.0  # live: recent compute of refresh-only cycles
        # Set by the caller that runs core/flow.py between cycles: a face the flow measures
        # is then re-detected at ``flow_redetect_hz`` only.
        self.with_flow = False

    @property
    def flow_measures(self) -> bool:
        """Live with tiles, after the first sweep, and the caller said it measures the known
        faces by optical flow between their re-detections (``with_flow``: the pipeline, with
        ``flow_refresh``). The first sweep runs as without the flow: the crowd is found
        first (under load 6-8 a 4K first sweep took 10-15 s, and flow steps on its cycles
        made it longer)."""
        return bool(self.with_flow and self.realtime and self.config.refresh_hz > 0 and self.tiled
                    and self._sweeps > 0)

    @property
    def tiled(self) -> bool:
        return bool(self.plan and self.plan.tiles)

    @property
    def sweeps_completed(self) -> int:
        return self._sweeps

    def _plan_for(self, image: np.ndarray) -> CoveragePlan:
        h, w = image.shape[:2]
        if self.plan is None or (self.plan.width, self.plan.height) != (w, h):
            self.plan = CoveragePlan.for_frame(w, h, self.config)
            self._next_tile = 0
        return self.plan

    def tiles_per_analysis_cycle(self) -> int:
        assert self.plan is not None
        cycles = max(1.0, self.config.analysis_sweep_s * self.config.analysis_detect_hz)
        return max(1, math.ceil(len(self.plan.tiles) / cycles))

    def detect(self, image: np.ndarray, now_s: float, tracks: Sequence[Track] = ()
               ) -> tuple[list[Detection], CycleReport]:
        """Run a cycle on ``image`` if one is due; ``report.ran`` says whether it did.

        Without tiles every frame is a cycle (one low-resolution pass, as before)."""
        plan = self._plan_for(image)
        report = CycleReport()
        if plan.tiles and not self.realtime and self._last_cycle_s is not None:
            if now_s - self._last_cycle_s < 1.0 / self.config.analysis_detect_hz - 1e-6:
                return [], report  # between cycles: the tracker predicts
        refresh_due: list[Track] = []
        if (self.realtime and plan.tiles and self.config.refresh_hz > 0 and self.config.live_full_cycle_s > 0
                and self._sweeps > 0):  # the first sweep at full speed: find the crowd first
            # The refresh comes first: while known faces are due, a refresh-only cycle takes
            # them, every size (the low-resolution pass does not run to see the large ones).
            # A full cycle runs when none is due, or when full cycles got less than
            # live_sweep_share of the recent compute (new faces are still found when the
            # refresh alone would fill the CPU); never sooner than live_full_cycle_s.
            refresh_due = self._due(plan, now_s, tracks, math.inf)
            full_allowed = now_s - self._last_full_s >= self.config.live_full_cycle_s
            spent = self._full_ms + self._refresh_ms
            sweep_behind = self._full_ms < self.config.live_sweep_share * spent
            if not refresh_due and not full_allowed:
                return [], report  # nothing due, a full cycle not yet: no cycle
            if full_allowed and sweep_behind:
                refresh_due = []
        if self._last_cycle_s is not None and now_s > self._last_cycle_s:
            gap = now_s - self._last_cycle_s
            self._cycle_gap_s = gap if self._cycle_gap_s is None else 0.7 * self._cycle_gap_s + 0.3 * gap
        self._last_cycle_s = now_s
        report.ran = True
        report.full = not refresh_due
        started = time.perf_counter()
        frame_rect = (0, 0, plan.width, plan.height)
        if refresh_due:
            found = self._merge(self._refresh(image, plan, now_s, refresh_due, report, started,
                                              self.config.live_cycle_ms))
            report.compute_ms = (time.perf_counter() - started) * 1000.0
            self._spent(refresh_ms=report.compute_ms)
            report.rest_s = report.compute_ms / 1000.0 * (1.0 / self.config.live_busy_share - 1.0)
            return found, report
        self._last_full_s = now_s
        found = list(self.detector.detect(image))
        # Without tiles this pass is all there is: a face it misses is missed, whatever its size.
        report.coverage.append(Coverage(frame_rect, plan.reliable_face_px if plan.tiles else 0.0, frame_rect))
        if plan.tiles:
            # Faces too small for this pass are the tiles' (it finds them now and then, with
            # boxes a few pixels off: mixed with the tiles' boxes, that reads as motion).
            found = [d for d in found if min(d.width, d.height) >= plan.reliable_face_px]
            budget_ms = self.config.live_cycle_ms
            refreshing = self.realtime and self.config.refresh_hz > 0
            # With refresh-only cycles between full ones, a full cycle spends its budget on
            # the sweep first (finding new faces); without them, on the refresh first.
            refresh_first = refreshing and self.config.live_full_cycle_s <= 0
            if refresh_first:
                found += self._refresh(image, plan, now_s, tracks, report, started, budget_ms)
            elif not self.realtime:
                # Analysis: a face the sweep found once is looked at again next cycle, so
                # its velocity is known before the sweep comes back (a walker keeps its id).
                new = [t for t in tracks if t.hits < 2]
                found += self._refresh(image, plan, now_s, new, report, started, math.inf)
            count = self.tiles_per_analysis_cycle() if not self.realtime else self._live_tile_count(started, budget_ms)
            for _ in range(min(count, len(plan.tiles))):
                index = self._next_tile
                tile = plan.tiles[index]
                t0 = time.perf_counter()
                dets = self.detector.detect(image, region=tile, max_side=plan.tile_max_side)
                ms = (time.perf_counter() - t0) * 1000.0
                self._tile_ms = ms if self._tile_ms is None else 0.7 * self._tile_ms + 0.3 * ms
                found += [d for d in dets if not _touches_cut(d, tile, frame_rect)]
                report.tiles.append(index)
                report.coverage.append(Coverage(tile, 0.0, frame_rect))
                self._next_tile = (index + 1) % len(plan.tiles)
                if self._next_tile == 0:
                    self._sweeps += 1
            if refreshing and not refresh_first and tracks:
                # A face a tile of this cycle saw needs no refresh; the others due get what
                # is left of the budget (the next refresh-only cycle takes the rest).
                predicted = np.array([t.predicted_box(now_s) for t in tracks], dtype=np.float64)
                unseen = ~seen_by(predicted, report.coverage[1:])
                found += self._refresh(image, plan, now_s, [t for t, u in zip(tracks, unseen) if u],
                                       report, started, budget_ms)
            found = self._merge(found)
        report.compute_ms = (time.perf_counter() - started) * 1000.0
        self._spent(full_ms=report.compute_ms)
        if self.realtime and plan.tiles:
            share = self.config.live_busy_share
            report.rest_s = report.compute_ms / 1000.0 * (1.0 / share - 1.0)
        return found, report

    def _spent(self, full_ms: float = 0.0, refresh_ms: float = 0.0) -> None:
        """Recent compute of full and refresh-only cycles (decaying sums, live)."""
        self._full_ms = 0.8 * self._full_ms + full_ms
        self._refresh_ms = 0.8 * self._refresh_ms + refresh_ms

    def detect_whole(self, image: np.ndarray) -> list[Detection]:
        """A still image: the low-resolution pass and every tile at once, merged."""
        plan = self._plan_for(image)
        found = list(self.detector.detect(image))
        if not plan.tiles:
            return found
        found = [d for d in found if min(d.width, d.height) >= plan.reliable_face_px]
        frame_rect = (0, 0, plan.width, plan.height)
        for tile in plan.tiles:
            dets = self.detector.detect(image, region=tile, max_side=plan.tile_max_side)
            found += [d for d in dets if not _touches_cut(d, tile, frame_rect)]
        return sorted(self._merge(found), key=lambda d: -d.score)

    def _live_tile_count(self, started: float, budget_ms: float) -> int:
        left = budget_ms - (time.perf_counter() - started) * 1000.0
        if self._tile_ms is None:
            return 1  # measure one first
        return max(1, int(left // max(self._tile_ms, 1e-3)))

    def _due(self, plan: CoveragePlan, now_s: float, tracks: Sequence[Track], largest_px: float) -> list[Track]:
        """The tracks (short side under ``largest_px``) whose box is due for a refresh."""
        period = 1.0 / self.config.refresh_hz if self.config.refresh_hz > 0 else 0.0
        # Due: a face that would be older than the period by the next cycle. (A fixed
        # 0.8 x period let a face refreshed 133-167 ms ago wait for the cycle after next
        # whenever the cycles came faster than that: every other cycle, 3 Hz.)
        wait_s = self._cycle_gap_s if self.realtime and self._cycle_gap_s is not None else 0.2 * period
        if self.flow_measures:
            # Live with flow (core/flow.py): a face the flow measures is re-detected at
            # ``flow_redetect_hz`` only (drift and size); one it lost or never measured, or
            # one looked for and not found, at ``refresh_hz``.
            slow = max(period, 1.0 / self.config.flow_redetect_hz)
            return [t for t in tracks
                    if min(t.width, t.height) < largest_px and now_s > t.last_seen_s
                    and now_s - t.last_seen_s >= (slow if _flow_kept(t) else period) - wait_s]
        return [t for t in tracks
                if min(t.width, t.height) < largest_px and now_s - t.last_seen_s >= period - wait_s
                and now_s > t.last_seen_s]

    def _refresh(self, image: np.ndarray, plan: CoveragePlan, now_s: float, tracks: Sequence[Track],
                 report: CycleReport, started: float, budget_ms: float) -> list[Detection]:
        """Re-detect the small tracks that are due, in one mosaic of regions around them."""
        due = self._due(plan, now_s, tracks, 1.25 * plan.reliable_face_px) if report.full else list(tracks)
        if not due:
            return []
        due.sort(key=lambda t: t.last_seen_s)  # most overdue first
        # The refresh may fill the cycle's budget: the sweep still runs at least one tile.
        allowed_px = math.inf
        if self._ns_per_px is not None and budget_ms < math.inf:
            left_ms = budget_ms - (time.perf_counter() - started) * 1000.0
            allowed_px = max(0.0, left_ms) * 1e6 / self._ns_per_px
        regions: list[Rect] = []
        scales: list[float] = []
        chosen: list[Track] = []
        area = 0.0
        for track in due:
            x1, y1, x2, y2 = track.predicted_box(now_s)
            side = REFRESH_REGION * max(x2 - x1, y2 - y1, 8.0)
            cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
            rect = (max(0, int(cx - side / 2)), max(0, int(cy - side / 2)),
                    min(plan.width, int(cx + side / 2) + 1), min(plan.height, int(cy + side / 2) + 1))
            if rect[2] - rect[0] < 8 or rect[3] - rect[1] < 8:
                continue
            # A known face needs no more pixels than the tiles' resolution, nor more than
            # REFRESH_FACE_PX on its short side (a 37 px face refreshes at 42 % of the cost).
            scale = min(plan.tile_scale, REFRESH_FACE_PX / max(1.0, min(x2 - x1, y2 - y1)))
            cost = ((rect[2] - rect[0]) * scale + 2 * MOSAIC_PAD_PX) * ((rect[3] - rect[1]) * scale + 2 * MOSAIC_PAD_PX)
            if regions and area + cost > allowed_px:
                break
            area += cost
            regions.append(rect)
            scales.append(scale)
            chosen.append(track)
        if not regions:
            return []
        mosaic, cells = pack_mosaic(image, regions, scales)
        t0 = time.perf_counter()
        dets = self.detector.detect(mosaic, max_side=0)
        ms = (time.perf_counter() - t0) * 1000.0
        ns = ms * 1e6 / (mosaic.shape[0] * mosaic.shape[1])
        self._ns_per_px = ns if self._ns_per_px is None else 0.7 * self._ns_per_px + 0.3 * ns
        # Each detection belongs to the cell its centre falls in, and is kept when that
        # centre is in the middle half of the cell: a neighbour's face cut by the region's
        # edge has its centre near that edge. (Not the tiles' cut-edge test: a 1.25x region
        # leaves its own face a few pixels from the edge, and that test dropped 23 % of the
        # refreshed faces on the 16x16 grid.) Vectorised: 256 x 256 pairs in Python cost ms.
        out: list[Detection] = []
        if dets:
            cell_arr = np.asarray(cells, dtype=np.float64)
            centres = np.array([((d.x1 + d.x2) / 2.0, (d.y1 + d.y2) / 2.0) for d in dets])
            mid_x, mid_y = (cell_arr[:, 0] + cell_arr[:, 2]) / 2.0, (cell_arr[:, 1] + cell_arr[:, 3]) / 2.0
            quarter_w, quarter_h = (cell_arr[:, 2] - cell_arr[:, 0]) / 4.0, (cell_arr[:, 3] - cell_arr[:, 1]) / 4.0
            central = ((np.abs(centres[:, 0:1] - mid_x[None, :]) <= quarter_w[None, :])
                       & (np.abs(centres[:, 1:2] - mid_y[None, :]) <= quarter_h[None, :]))
            for d_index, r_index in zip(*np.nonzero(central)):
                rect, cell, back = regions[r_index], cells[r_index], 1.0 / scales[r_index]
                out.append(shift_detection(dets[d_index], rect[0] - cell[0] * back, rect[1] - cell[1] * back, back))
        report.refreshed = [t.id for t in chosen]
        frame_rect = (0, 0, plan.width, plan.height)
        report.coverage += [Coverage(r, 0.0, frame_rect) for r in regions]
        return out

    def _merge(self, found: list[Detection]) -> list[Detection]:
        """One box per face across the passes (best score kept)."""
        if len(found) < 2:
            return found
        boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in found], dtype=np.float32)
        scores = np.array([d.score for d in found], dtype=np.float32)
        return [found[i] for i in nms(boxes, scores, self.config.nms_threshold)]
