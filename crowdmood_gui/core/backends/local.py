"""The local backend: the bundled expression model(s), on this machine, no account needed.

It answers each crop with a Rekognition-shaped ``DetectFaces`` response and then takes the
same path as the Lambda (``records.build_record``), so local and cloud sessions produce
identical records and lines.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from crowdmood_gui.core.backends.base import AnalysisBackend, BackendStats, CropJob, RecordSink
from crowdmood_gui.core.process_stats import lower_this_thread_priority
from crowdmood_gui.core.records import build_record, crop_key
from crowdmood_gui.core.sampling import blurred_crop

log = logging.getLogger(__name__)

THUMBNAIL_HEIGHT = 96
# Live crop budget (``core_share``): the CPU seconds per crop before the first batch is
# measured (the default ensemble takes ~7 ms on one core), and how many seconds of crops the
# budget may save up (a crowd walking in is read over the next seconds, not in one burst).
FIRST_GUESS_S_PER_CROP = 0.010
BUDGET_SAVED_S = 1.0


def make_thumbnail(image: np.ndarray, height: int = THUMBNAIL_HEIGHT) -> np.ndarray:
    h, w = image.shape[:2]
    if h <= 0 or w <= 0:
        return image
    scale = height / h
    return cv2.resize(image, (max(1, round(w * scale)), height), interpolation=cv2.INTER_AREA)


class LocalBackend(AnalysisBackend):
    name = "local"

    def __init__(
        self,
        model=None,
        *,
        queue_size: int = 64,
        block_when_full: bool = False,
        batch_max: int = 16,
        crops_dir: Path | None = None,
        prefix: str = "faces/",
        core_share: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        thread_nice: int = 0,
    ) -> None:
        """``block_when_full``: analysis mode (files) keeps every crop and applies back-pressure;
        live mode drops crops when the model falls behind rather than lagging further.
        ``core_share`` (live): the worker takes at most that share of one core, as crops per
        second from its own CPU time per crop (:meth:`crop_allowance`); None: no limit."""
        if model is None:
            from crowdmood_gui.core.expression import ExpressionModel

            model = ExpressionModel()
        self._model = model
        self._queue: queue.Queue[CropJob] = queue.Queue(maxsize=queue_size)
        self._block = block_when_full
        self._batch_max = batch_max
        self._crops_dir = crops_dir
        self._prefix = prefix
        self._sink: RecordSink | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._analysed = 0
        self._dropped = 0
        self._core_share = core_share
        self._thread_nice = thread_nice  # live: the worker yields the CPU to the display path
        self._clock = clock
        self._budget_lock = threading.Lock()
        self._s_per_crop = FIRST_GUESS_S_PER_CROP  # the worker's CPU seconds per crop, smoothed
        self._tokens = self._budget_cap()
        self._tokens_at = clock()

    # --- AnalysisBackend ------------------------------------------------------------

    def start(self, sink: RecordSink) -> None:
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="local-analysis", daemon=True)
        self._thread.start()

    def crops_per_s(self) -> float | None:
        """The live budget: ``core_share`` over the measured CPU seconds per crop (None: no limit)."""
        if self._core_share is None:
            return None
        return self._core_share / self._s_per_crop

    @property
    def s_per_crop(self) -> float:
        """The worker's CPU seconds per crop, as measured (smoothed over batches)."""
        return self._s_per_crop

    def crop_allowance(self) -> int | None:
        if self._core_share is None:
            return None
        with self._budget_lock:
            self._refill()
            return int(self._tokens)

    def _budget_cap(self) -> float:
        return max(1.0, self.crops_per_s() * BUDGET_SAVED_S) if self._core_share is not None else 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._budget_cap(), self._tokens + max(0.0, now - self._tokens_at) * self.crops_per_s())
        self._tokens_at = now

    def submit(self, job: CropJob) -> bool:
        if self._stopping.is_set():
            return False
        if self._core_share is not None:
            with self._budget_lock:  # a crop sent past the allowance still spends the budget
                self._refill()
                self._tokens = max(0.0, self._tokens - 1.0)
        if self._block:
            while not self._stopping.is_set():
                try:
                    self._queue.put(job, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False
        try:
            self._queue.put_nowait(job)
            return True
        except queue.Full:
            self._dropped += 1
            return False

    def stats(self) -> BackendStats:
        return BackendStats(queue_depth=self._queue.qsize(), records_analysed=self._analysed)

    @property
    def dropped(self) -> int:
        return self._dropped

    def stop(self, timeout_s: float = 2.0) -> None:
        """Analyse what is queued (within ``timeout_s``), then stop the worker."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("local analysis did not finish within %.1f s; %d crops left", timeout_s, self._queue.qsize())

    # --- worker ---------------------------------------------------------------------

    def _next_batch(self) -> list[CropJob]:
        try:
            first = self._queue.get(timeout=0.05)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self._batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        lower_this_thread_priority(self._thread_nice)
        while True:
            batch = self._next_batch()
            if not batch:
                if self._stopping.is_set():
                    return  # queue drained
                continue
            try:
                started = time.thread_time()
                self._analyse(batch)
                self._measured(batch, time.thread_time() - started)
            except Exception as exc:  # a model failure must not kill the console
                log.exception("local analysis failed")
                if self._sink is not None:
                    self._sink.on_error(f"expression analysis failed: {exc}")

    def _measured(self, batch: list[CropJob], cpu_s: float) -> None:
        """This thread's CPU per crop (onnxruntime runs its one intra-op thread in the caller's
        thread; with ``expression.threads`` > 1 the others' share is not seen)."""
        if self._core_share is None or cpu_s <= 0:
            return
        with self._budget_lock:
            self._refill()
            self._s_per_crop = 0.8 * self._s_per_crop + 0.2 * cpu_s / len(batch)

    def _analyse(self, batch: list[CropJob]) -> None:
        from crowdmood_gui.core.expression import face_details

        # The model frames each face itself from the crop and its box (core/expression.py).
        probabilities = self._model.predict([job.image for job in batch], [job.face_box for job in batch])
        for job, probs in zip(batch, probabilities):
            detail = face_details(job.image, job.face_box, probs, job.detection_score, job.landmarks, job.sharpness)
            key = crop_key(job.meta, self._prefix)
            record = build_record(key, {"FaceDetails": [detail]}, job.meta)
            if self._crops_dir is not None:
                self._save_crop(key, blurred_crop(job.image) if job.blur_copies else job.image)
            self._analysed += 1
            if self._sink is not None:
                self._sink.on_record(record, job.media_time_s, make_thumbnail(job.image))

    def _save_crop(self, key: str, image: np.ndarray) -> None:
        path = self._crops_dir / key.removeprefix(self._prefix)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90]):
                raise OSError("the JPEG encoder refused the crop")
        except OSError as exc:
            if self._sink is not None:
                self._sink.on_error(f"could not keep the crop on disk ({path}): {exc}")
