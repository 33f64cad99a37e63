"""The booth heartbeat: how a booth is doing, as CloudWatch metrics, without Rekognition.

Every ``interval_s`` (10 s by default) one ``PutMetricData`` call sends four
high-resolution datums (``StorageResolution=1``) with the dimensions ``Camera`` and
``Session``:

* ``BoothFramesPerSecond`` - frames the detector processed per second;
* ``BoothFacesInView``    - faces in the last processed frame;
* ``BoothSpoolDepth``     - crops waiting on disk for S3 (grows during an outage);
* ``BoothSecondsSinceUpload`` - since the last crop reached S3 (left out before the first).

The time of the newest datum is the booth's last sign of life (``crowdmood booths`` calls a
booth live, stale or offline from it). One beat is sent at start and one at stop, so even a
short run is seen. A failing call is reported once per outage (and every tenth failure),
never raised: the heartbeat must not disturb the booth.

Cost (us-east-1 prices): 360 calls per hour = $0.0036/h per booth, plus 4 custom metrics
($0.30 per metric-month, billed by the hour: ~$0.0016/h) per camera and session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws.clients import describe_aws_error

FRAMES_METRIC = "BoothFramesPerSecond"
FACES_IN_VIEW_METRIC = "BoothFacesInView"
SPOOL_DEPTH_METRIC = "BoothSpoolDepth"
SINCE_UPLOAD_METRIC = "BoothSecondsSinceUpload"
HEARTBEAT_METRICS = (FRAMES_METRIC, FACES_IN_VIEW_METRIC, SPOOL_DEPTH_METRIC, SINCE_UPLOAD_METRIC)
DEFAULT_INTERVAL_S = 10.0
ERROR_PREFIX = "booth heartbeat"


@dataclass(frozen=True, slots=True)
class HeartbeatFigures:
    frames_per_s: float
    faces_in_view: int
    spool_depth: int
    seconds_since_upload: float | None  # None: nothing uploaded yet


def heartbeat_dimensions(camera: str, session: str) -> list[dict[str, str]]:
    return [{"Name": "Camera", "Value": camera}, {"Name": "Session", "Value": session}]


def heartbeat_datums(figures: HeartbeatFigures, *, camera: str, session: str, timestamp: datetime) -> list[dict[str, Any]]:
    """The datums of one beat, ready for ``put_metric_data(MetricData=...)``."""
    common = {"Dimensions": heartbeat_dimensions(camera, session), "Timestamp": timestamp, "StorageResolution": 1}
    values = [
        (FRAMES_METRIC, float(figures.frames_per_s), "Count/Second"),
        (FACES_IN_VIEW_METRIC, float(figures.faces_in_view), "Count"),
        (SPOOL_DEPTH_METRIC, float(figures.spool_depth), "Count"),
    ]
    if figures.seconds_since_upload is not None:
        values.append((SINCE_UPLOAD_METRIC, float(figures.seconds_since_upload), "Seconds"))
    return [{"MetricName": name, "Value": value, "Unit": unit, **common} for name, value, unit in values]


class BoothHeartbeat:
    """A daemon thread sending one beat every ``interval_s``; ``stop`` sends a last one."""

    def __init__(
        self,
        cloudwatch,
        *,
        namespace: str,
        camera: str,
        session: str,
        figures: Callable[[], HeartbeatFigures],
        interval_s: float = DEFAULT_INTERVAL_S,
        on_error: Callable[[str], None] = lambda message: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cloudwatch = cloudwatch
        self.namespace = namespace
        self.camera = camera
        self.session = session
        self.figures = figures
        self.interval_s = interval_s
        self.on_error = on_error
        self.clock = clock
        self.sent = 0
        self.failures = 0  # consecutive
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="crowdmood-booth-heartbeat", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> bool:
        """End the thread (it sends a last beat on its way out); True when it ended in time."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(max(0.0, timeout_s))
        return not self._thread.is_alive()

    def _run(self) -> None:
        self.beat()
        while not self._stop.wait(self.interval_s):
            self.beat()
        self.beat()  # the last sign of life, with the spool depth left for the next start

    def beat(self) -> bool:
        """Send one beat now; False when it failed (reported, not raised)."""
        try:
            datums = heartbeat_datums(self.figures(), camera=self.camera, session=self.session, timestamp=self.clock())
            self.cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=datums)
        except (ClientError, BotoCoreError) as exc:
            self._failed(describe_aws_error(exc))
            return False
        except Exception as exc:  # a figures bug must not end the beats
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        if self.failures:
            self.failures = 0
        self.sent += 1
        return True

    def _failed(self, why: str) -> None:
        self.failures += 1
        self.last_error = why
        if self.failures == 1 or self.failures % 10 == 0:
            try:
                self.on_error(f"{ERROR_PREFIX}: {why} ({self.failures} failed in a row; the booth keeps running)")
            except Exception:
                pass
