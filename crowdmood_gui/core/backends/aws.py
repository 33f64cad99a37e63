"""The AWS backend: crops go to S3 (via a durable spool), results come back from
DynamoDB, written by the bundled Lambda; the pipeline's crowd state turns them into the
chart's lines exactly as in local mode (CloudWatch keeps per-crop means for the dashboard).

Threads: the caller's (``submit``: JPEG encode + spool write, a few ms), the uploader
(spool -> S3) and the poller (CloudWatch + DynamoDB -> sink). Nothing here blocks on the
network in the caller's thread, and ``stop`` loses nothing: every accepted crop is on
disk before ``submit`` returns, and the spool is picked up again at the next start.

Credentials come only from the standard chain (``make_session``); ``AWS_ENDPOINT_URL``
is honoured by boto3, so the backend runs against an emulator unchanged.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np

from crowdmood_gui.core.aws.budget import CostBudget
from crowdmood_gui.core.aws.heartbeat import BoothHeartbeat, HeartbeatFigures
from crowdmood_gui.core.aws.naming import failure_queue_name
from crowdmood_gui.core.aws.poller import ResultsPoller
from crowdmood_gui.core.aws.spool import UploadSpool
from crowdmood_gui.core.aws.uploader import Uploader
from crowdmood_gui.core.backends.base import AnalysisBackend, BackendStats, CropJob, RecordSink
from crowdmood_gui.core.config import AppConfig, AwsConfig
from crowdmood_gui.core.errors import CrowdMoodError, StorageError
from crowdmood_gui.core.events import StatsEvent
from crowdmood_gui.core.records import FaceRecord, crop_key

JPEG_QUALITY = 90
#: Rekognition often misses a face under ~40 px (field notes §2), while the console analyses
#: faces from ``sampling.min_face_px`` up (measured: smaller): such a crop is enlarged first.
REKOGNITION_MIN_FACE_PX = 40
THUMBNAIL_PX = 64
THUMBNAIL_CACHE = 256
SPOOL_DIRNAME = "aws-spool"


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def enlarge_small_face(image: np.ndarray, face_box: tuple[int, int, int, int],
                       min_face_px: int = REKOGNITION_MIN_FACE_PX) -> np.ndarray:
    """``image`` scaled up (bicubic) so the face in it is at least ``min_face_px`` on its short
    side; ``image`` itself when it already is. Rekognition reports boxes and landmarks as
    ratios of the image, so the record is the same either way."""
    import cv2

    x1, y1, x2, y2 = face_box
    short = min(x2 - x1, y2 - y1)
    if short <= 0 or short >= min_face_px:
        return image
    h, w = image.shape[:2]
    scale = min_face_px / short
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_CUBIC)


def _thumbnail(image: np.ndarray) -> np.ndarray | None:
    try:
        import cv2

        h, w = image.shape[:2]
        scale = THUMBNAIL_PX / max(h, w, 1)
        if scale >= 1:
            return image.copy()
        return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    except Exception:
        return None


class AwsBackend(AnalysisBackend):
    name = "aws"
    # The pipeline computes the crowd lines from the polled records, as in local mode.
    provides_timeline = False

    def __init__(
        self,
        aws: AwsConfig,
        *,
        session: str,
        camera: str,
        spool_dir: Path,
        session_start: datetime | None = None,
        period_s: int = 1,
        boto_session: Any = None,
        s3: Any = None,
        cloudwatch: Any = None,
        dynamodb: Any = None,
        sqs: Any = None,
        clock: Callable[[], float] = time.monotonic,
        poll: bool = True,
        camera_filter: bool = True,
        fsync: bool = True,
        heartbeat_s: float = 0.0,
    ) -> None:
        """``camera_filter``: chart and faces of this camera only (False: the whole session).
        ``heartbeat_s``: seconds between two booth heartbeats (0: none; ``from_config`` uses
        the configured 10 s)."""
        self.aws = aws
        self.session = session
        self.camera = camera
        self.spool_dir = Path(spool_dir)
        self.session_start = (session_start or datetime.now(UTC)).astimezone(UTC)
        self.period_s = period_s
        self._boto_session = boto_session
        self._clients = {"s3": s3, "cloudwatch": cloudwatch, "dynamodb": dynamodb, "sqs": sqs}
        self._clock = clock
        self._poll = poll
        self._camera_filter = camera_filter
        self._fsync = fsync
        self.budget = CostBudget(aws.budget_usd_per_hour, aws.price_per_image_usd, now=clock())
        self.spool: UploadSpool | None = None
        self.uploader: Uploader | None = None
        self.poller: ResultsPoller | None = None
        self._sink: RecordSink | None = None
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, tuple[float, np.ndarray | None]] = OrderedDict()
        self._records = 0
        self._last_error: str | None = None
        self.spool_write_ms: float | None = None
        self.heartbeat_s = heartbeat_s
        self.heartbeat: BoothHeartbeat | None = None
        self._pipeline_stats: StatsEvent | None = None
        self.uploads = 0
        self.first_upload_wall: float | None = None  # time.time() of the first crop in S3
        self._last_upload: float | None = None  # on self._clock

    @classmethod
    def from_config(cls, config: AppConfig, *, session: str, session_start: datetime | None = None, **kw) -> "AwsBackend":
        """The usual construction: spool under the data home (shared by sessions, so crops
        left by an earlier run are uploaded whatever session runs next)."""
        return cls(
            config.aws,
            session=session,
            camera=config.camera,
            spool_dir=config.data_home() / SPOOL_DIRNAME,
            session_start=session_start,
            period_s=config.ui.period_s,
            heartbeat_s=config.aws.heartbeat_s,
            **kw,
        )

    # --- clients ----------------------------------------------------------------------

    def _client(self, service: str):
        if self._clients.get(service) is None:
            import botocore.config

            from crowdmood_gui.core.aws.clients import CLIENT_CONFIG, make_session

            if self._boto_session is None:
                self._boto_session = make_session(self.aws)
            config = CLIENT_CONFIG
            if service == "s3":  # the uploader has its own back-off: fail fast, keep the spool
                config = CLIENT_CONFIG.merge(botocore.config.Config(retries={"max_attempts": 2, "mode": "standard"}))
            self._clients[service] = self._boto_session.client(service, config=config)
        return self._clients[service]

    # --- lifecycle --------------------------------------------------------------------

    def start(self, sink: RecordSink) -> None:
        self._sink = sink
        try:
            self.spool = UploadSpool(self.spool_dir, fsync=self._fsync)
        except StorageError as exc:
            self._error(str(exc))
            return
        if self.spool.recovered:
            self._error(f"upload spool: {self.spool.recovered} crop(s) from an earlier run will be uploaded first")
        if not self.aws.bucket:
            self._error("AWS mode: no S3 bucket configured (run 'crowdmood setup'); crops are kept in the spool")
            return
        try:
            s3 = self._client("s3")
            cloudwatch = self._client("cloudwatch") if self._poll else None
            dynamodb = self._client("dynamodb") if self._poll else None
            sqs = self._client("sqs") if self._poll and self.aws.function else None
            heartbeat_cw = self._heartbeat_client() if self.heartbeat_s > 0 else None
        except CrowdMoodError as exc:
            self._error(str(exc))
            return
        except Exception as exc:  # botocore: bad region, no such profile...
            self._error(f"AWS mode: cannot create the AWS clients ({exc}); crops are kept in the spool")
            return
        self.uploader = Uploader(self.spool, s3, self.aws.bucket, on_error=self._error, on_uploaded=self._on_uploaded)
        self.uploader.start()
        if heartbeat_cw is not None:
            self.heartbeat = BoothHeartbeat(
                heartbeat_cw, namespace=self.aws.namespace, camera=self.camera, session=self.session,
                figures=self.heartbeat_figures, interval_s=self.heartbeat_s, on_error=self._error,
            )
            self.heartbeat.start()
        if self._poll:
            self.poller = ResultsPoller(
                cloudwatch,
                dynamodb,
                namespace=self.aws.namespace,
                table=self.aws.table,
                session=self.session,
                camera=self.camera if self._camera_filter else None,
                session_start=self.session_start,
                period_s=self.period_s,
                poll_interval_s=self.aws.poll_interval_s,
                on_timeline=self._on_timeline,
                on_record=self._on_record,
                on_error=self._error,
                lookup=self._lookup,
                sqs=sqs,
                failure_queue=failure_queue_name(self.aws.function) if sqs is not None else None,
            )
            self.poller.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop both threads within ``timeout_s``. Crops not yet in S3 stay in the spool
        (they were made durable by ``submit``) and are uploaded at the next start."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        if self.uploader is not None:
            self.uploader.stop(max(0.0, (deadline - time.monotonic()) * 0.6))
        if self.poller is not None:
            self.poller.stop(max(0.0, (deadline - time.monotonic()) * 0.5))
        if self.heartbeat is not None:  # last: its final beat reports the spool left behind
            self.heartbeat.stop(max(0.0, deadline - time.monotonic()))

    # --- the pipeline's side ----------------------------------------------------------

    def wants_sample(self, track_id: int, now_s: float, analysed_before: bool) -> bool:
        # The bill runs on wall time, whatever clock the sampler uses (a file may play
        # faster than real time): the budget uses the backend's monotonic clock.
        return self.budget.wants_sample(track_id, self._clock(), analysed_before)

    def submit(self, job: CropJob) -> bool:
        spool = self.spool
        if spool is None:
            return False
        now = self._clock()
        if not self.budget.charge(job.meta.track_id, now):
            return False
        started = time.perf_counter()
        try:
            data = encode_jpeg(enlarge_small_face(job.image, job.face_box))
            key = crop_key(job.meta, self.aws.prefix)
            spool.put(key, data, job.meta.to_s3_metadata())
        except StorageError as exc:
            self.budget.refund(now)
            self._error(str(exc))
            return False
        except (ValueError, TypeError) as exc:  # an empty or odd crop
            self.budget.refund(now)
            self._error(f"AWS mode: cannot encode a crop ({exc})")
            return False
        self.spool_write_ms = (time.perf_counter() - started) * 1000.0
        with self._lock:
            self._recent[key] = (job.media_time_s, _thumbnail(job.image))
            while len(self._recent) > THUMBNAIL_CACHE:
                self._recent.popitem(last=False)
        return True

    def set_period(self, period_s: int) -> None:
        self.period_s = period_s
        if self.poller is not None:
            self.poller.set_period(period_s)

    def budget_stats(self):
        """The cost budget's figures now (crops charged, refused, the hourly ceiling)."""
        return self.budget.stats(self._clock())

    def stats(self) -> BackendStats:
        budget = self.budget_stats()
        return BackendStats(
            queue_depth=0,
            records_analysed=self._records,
            upload_queue=self.spool.depth() if self.spool is not None else 0,
            cost_usd=budget.spent_usd,
            projected_usd_per_hour=budget.projected_usd_per_hour,
            analysis_lag_s=self.poller.last_lag_s if self.poller is not None else None,
            failed_waiting=self.poller.failed_waiting if self.poller is not None else None,
        )

    # --- booth health -------------------------------------------------------------------

    def _heartbeat_client(self):
        """CloudWatch for the heartbeat: its own client, failing fast (one attempt, short
        timeouts) so an outage costs a beat, not a stuck thread at shutdown."""
        if self._clients.get("cloudwatch") is not None:
            return self._clients["cloudwatch"]
        import botocore.config

        from crowdmood_gui.core.aws.clients import CLIENT_CONFIG, make_session

        if self._boto_session is None:
            self._boto_session = make_session(self.aws)
        fast = CLIENT_CONFIG.merge(botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                                          connect_timeout=2, read_timeout=5))
        return self._boto_session.client("cloudwatch", config=fast)

    def observe_pipeline(self, stats: StatsEvent) -> None:
        self._pipeline_stats = stats

    def heartbeat_figures(self) -> HeartbeatFigures:
        stats = self._pipeline_stats
        last = self._last_upload
        return HeartbeatFigures(
            frames_per_s=stats.detection_fps if stats else 0.0,
            faces_in_view=stats.faces if stats else 0,
            spool_depth=self.spool.depth() if self.spool is not None else 0,
            seconds_since_upload=None if last is None else max(0.0, self._clock() - last),
        )

    # --- callbacks from the threads ---------------------------------------------------

    def _on_uploaded(self, _item) -> None:
        self.uploads += 1
        self._last_upload = self._clock()
        if self.first_upload_wall is None:
            self.first_upload_wall = time.time()

    def _lookup(self, key: str) -> tuple[float | None, np.ndarray | None]:
        with self._lock:
            return self._recent.get(key, (None, None))

    def _on_record(self, record: FaceRecord, media_time_s: float, thumbnail) -> None:
        self._records += 1
        if self._sink is not None:
            self._sink.on_record(record, media_time_s, thumbnail)

    def _on_timeline(self, rows) -> None:
        if self._sink is not None:
            self._sink.on_timeline(rows)

    def _error(self, message: str) -> None:
        self._last_error = message
        if self._sink is not None:
            try:
                self._sink.on_error(message)
            except Exception:
                pass
