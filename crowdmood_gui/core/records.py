"""Rekognition ``DetectFaces`` response -> face record -> CloudWatch metric data.

This is the one implementation of that path: the Lambda (``crowdmood_gui/lambda_function/handler.py``) and the
local backend both call it, so a local session and a cloud session produce the same rows.

Stdlib only (the Lambda zip ships this module with ``emotions.py``): no numpy, no boto3.
Numbers stay ``float`` here; DynamoDB's ``Decimal`` conversion happens at the edge
(:func:`to_dynamodb_item`).
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

from crowdmood_gui.core.emotions import EMOTIONS

# Object metadata keys (x-amz-meta-<name> on the wire), exactly as issue #5 names them.
META_CAPTURED_AT = "captured-at"
META_SESSION = "session"
META_CAMERA = "camera"
META_TRACK_ID = "track-id"

DEFAULT_NAMESPACE = "CrowdMood"
FACES_METRIC = "Faces"
SESSION_INDEX = "session-captured_at-index"  # DynamoDB GSI: partition session, sort captured_at
MAX_DATUMS_PER_CALL = 1000  # PutMetricData limit
MAX_VALUES_PER_DATUM = 150  # PutMetricData limit on Values/Counts arrays


@dataclass(frozen=True, slots=True)
class CaptureMeta:
    """Who and when a crop is: travels as S3 object metadata in AWS mode."""

    session: str
    camera: str
    captured_at: datetime  # timezone-aware
    track_id: int | None = None

    def to_s3_metadata(self) -> dict[str, str]:
        """User metadata for ``put_object``; non-ASCII values are RFC 2047 encoded
        (S3 metadata is ASCII only: botocore rejects e.g. a session named "séance 1")."""
        meta = {
            META_CAPTURED_AT: iso_utc(self.captured_at),
            META_SESSION: encode_metadata_value(self.session),
            META_CAMERA: encode_metadata_value(self.camera),
        }
        if self.track_id is not None:
            meta[META_TRACK_ID] = str(self.track_id)
        return meta

    @classmethod
    def from_s3_metadata(
        cls, metadata: Mapping[str, str], *, fallback_time: datetime
    ) -> "CaptureMeta":
        """Read metadata that S3 returns (lower-cased keys); tolerate missing or bad values."""
        meta = {k.lower(): decode_metadata_value(v) for k, v in (metadata or {}).items()}
        captured_at = parse_time(meta.get(META_CAPTURED_AT)) or fallback_time
        track_raw = meta.get(META_TRACK_ID)
        try:
            track_id = int(track_raw) if track_raw not in (None, "") else None
        except ValueError:
            track_id = None
        return cls(
            session=meta.get(META_SESSION) or "default",
            camera=meta.get(META_CAMERA) or "unknown",
            captured_at=captured_at,
            track_id=track_id,
        )


@dataclass(frozen=True, slots=True)
class FaceResult:
    """One face of a crop: the fields every consumer (chart, store, DynamoDB) needs."""

    bounding_box: dict[str, float]  # Rekognition ratios: Width, Height, Left, Top
    emotions: dict[str, float]  # all eight EMOTIONS, 0..100, absent ones as 0
    dominant: str | None
    confidence: float  # face detection confidence, 0..100
    age_range: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class FaceRecord:
    """One analysed crop (zero or more faces in it)."""

    key: str
    meta: CaptureMeta
    faces: tuple[FaceResult, ...] = field(default_factory=tuple)

    @property
    def dominant(self) -> str | None:
        """Dominant expression of the most confident face of the crop."""
        if not self.faces:
            return None
        return max(self.faces, key=lambda f: f.confidence).dominant


_RFC2047_RE = re.compile(r"^=\?([A-Za-z0-9_-]+)\?([BbQq])\?([^?]*)\?=$")


def encode_metadata_value(value: str) -> str:
    """ASCII passes unchanged; anything else becomes ``=?UTF-8?B?<base64>?=`` (RFC 2047),
    the form S3 documents for non-ASCII user metadata."""
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def decode_metadata_value(value: str) -> str:
    """Inverse of :func:`encode_metadata_value` (also accepts the Q form); other values unchanged."""
    match = _RFC2047_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return value
    charset, kind, payload = match.groups()
    try:
        if kind in "Bb":
            raw = base64.b64decode(payload, validate=True)
        else:
            raw = re.sub(r"=([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), payload.replace("_", " ")).encode("latin-1")
        return raw.decode(charset)
    except (ValueError, LookupError):
        return value


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with an explicit offset, millisecond precision."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: capture times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_time(text: str | None) -> datetime | None:
    """Parse ISO 8601 (a trailing Z is accepted); naive or unparsable -> None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def emotion_vector(emotions: Iterable[Mapping[str, Any]] | None) -> dict[str, float]:
    """Rekognition ``Emotions`` list -> all eight types; an absent type counts as 0.

    The 2018 pipeline dropped types under 10 %, which biased every mean upwards.
    Unknown types (e.g. UNKNOWN) are ignored; non-finite confidences count as 0.
    """
    vector = dict.fromkeys(EMOTIONS, 0.0)
    for item in emotions or ():
        kind = item.get("Type")
        if kind in vector:
            value = float(item.get("Confidence") or 0.0)
            vector[kind] = min(100.0, max(0.0, value)) if math.isfinite(value) else 0.0
    return vector


def dominant_emotion(vector: Mapping[str, float]) -> str | None:
    if not vector:
        return None
    kind, value = max(vector.items(), key=lambda kv: kv[1])
    return kind if value > 0 else None


def face_result(detail: Mapping[str, Any]) -> FaceResult:
    """One ``FaceDetails`` entry -> :class:`FaceResult`."""
    vector = emotion_vector(detail.get("Emotions"))
    box = detail.get("BoundingBox") or {}
    age = detail.get("AgeRange")
    return FaceResult(
        bounding_box={k: float(box.get(k, 0.0)) for k in ("Width", "Height", "Left", "Top")},
        emotions=vector,
        dominant=dominant_emotion(vector),
        confidence=float(detail.get("Confidence") or 0.0),
        age_range={"Low": int(age["Low"]), "High": int(age["High"])} if age else None,
    )


def build_record(key: str, response: Mapping[str, Any], meta: CaptureMeta) -> FaceRecord:
    """A ``DetectFaces`` response (every face, not only the first) -> :class:`FaceRecord`."""
    details = response.get("FaceDetails") or []
    return FaceRecord(key=key, meta=meta, faces=tuple(face_result(d) for d in details))


def crop_key(meta: CaptureMeta, prefix: str = "faces/") -> str:
    """An object key that cannot collide: session/camera/capture time/track/uuid.

    (The 2018 keys were built from the second of capture and collided.)
    """
    stamp = meta.captured_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    track = f"t{meta.track_id}" if meta.track_id is not None else "t-"
    return f"{prefix}{_safe(meta.session)}/{_safe(meta.camera)}/{stamp}-{track}-{uuid.uuid4().hex[:12]}.jpg"


def _safe(part: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in part)
    return cleaned.strip(".") or "default"


# --- CloudWatch -----------------------------------------------------------------------


def metric_dimension_sets(meta: CaptureMeta) -> list[list[dict[str, str]]]:
    """Per-booth view (Session + Camera), per-session view, and the all-booths view."""
    return [
        [{"Name": "Session", "Value": meta.session}, {"Name": "Camera", "Value": meta.camera}],
        [{"Name": "Session", "Value": meta.session}],
        [],
    ]


def build_metric_data(records: Sequence[FaceRecord]) -> list[dict[str, Any]]:
    """Metric datums for a batch of records, ready for ``put_metric_data(MetricData=…)``.

    Per record and dimension set: one datum per emotion whose ``Values`` are the faces'
    confidences (0 when absent; so the Average statistic is the mean over faces, as the
    local timeline computes it), plus ``Faces`` with the number of faces in the crop.
    Timestamp is the capture time; storage resolution is 1 s.
    A record with no face sends only ``Faces`` = 0.
    """
    datums: list[dict[str, Any]] = []
    for record in records:
        timestamp = record.meta.captured_at.astimezone(UTC)
        for dims in metric_dimension_sets(record.meta):
            common = {"Timestamp": timestamp, "StorageResolution": 1}
            if dims:
                common["Dimensions"] = dims
            for chunk in _chunks(list(record.faces), MAX_VALUES_PER_DATUM):
                for kind in EMOTIONS:
                    datums.append(
                        {
                            "MetricName": kind,
                            "Values": [face.emotions[kind] for face in chunk],
                            "Unit": "Percent",
                            **common,
                        }
                    )
            datums.append(
                {"MetricName": FACES_METRIC, "Value": float(len(record.faces)), "Unit": "Count", **common}
            )
    return datums


# PutMetricData accepts timestamps from two weeks ago to two hours ahead; keep a margin.
METRIC_MAX_AGE = timedelta(days=14) - timedelta(hours=1)
METRIC_MAX_AHEAD = timedelta(hours=2) - timedelta(minutes=10)


def split_by_metric_window(
    records: Sequence[FaceRecord], now: datetime
) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """(records CloudWatch will accept, records it would reject for their timestamp).

    A crop spooled through a two-week outage, or from a booth whose clock runs fast, would
    otherwise make the whole ``put_metric_data`` call fail on every retry.
    """
    accepted, rejected = [], []
    for record in records:
        delta = now - record.meta.captured_at
        (accepted if -METRIC_MAX_AHEAD <= delta <= METRIC_MAX_AGE else rejected).append(record)
    return accepted, rejected


def metric_batches(datums: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split datums into as few ``put_metric_data`` calls as the API allows."""
    return _chunks(list(datums), MAX_DATUMS_PER_CALL)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- DynamoDB --------------------------------------------------------------------------


def record_to_item(record: FaceRecord, *, ttl_days: float | None = 30.0) -> dict[str, Any]:
    """Plain-Python item (floats); see :func:`to_dynamodb_item` for the boto3 form.

    ``ttl_days=None`` (or <= 0) writes no ``ttl`` attribute: the item never expires."""
    captured = record.meta.captured_at.astimezone(UTC)
    item: dict[str, Any] = {
        "s3key": record.key,
        "session": record.meta.session,
        "camera": record.meta.camera,
        "captured_at": iso_utc(captured),
        "face_count": len(record.faces),
        "faces": [
            {k: v for k, v in asdict(face).items() if v is not None} for face in record.faces
        ],
    }
    if ttl_days is not None and ttl_days > 0:
        item["ttl"] = int((captured + timedelta(days=ttl_days)).timestamp())
    if record.meta.track_id is not None:
        item["track_id"] = record.meta.track_id
    if record.dominant:
        item["dominant"] = record.dominant
    return item


def to_dynamodb_item(item: Any) -> Any:
    """Floats -> Decimal, recursively (boto3 rejects float)."""
    if isinstance(item, float):
        return Decimal(str(round(item, 4)))
    if isinstance(item, dict):
        return {k: to_dynamodb_item(v) for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return [to_dynamodb_item(v) for v in item]
    return item


def from_dynamodb_item(item: Any) -> Any:
    """Decimal -> float/int, recursively (for items read back by the console)."""
    if isinstance(item, Decimal):
        return int(item) if item == item.to_integral_value() else float(item)
    if isinstance(item, dict):
        return {k: from_dynamodb_item(v) for k, v in item.items()}
    if isinstance(item, list):
        return [from_dynamodb_item(v) for v in item]
    return item


# DynamoDB's low-level attribute values ({"S": ...}, {"N": ...}) as the client API sends and
# returns them: the one place boto3's TypeSerializer/TypeDeserializer are used, by the app and by
# the Lambda alike (boto3 is imported on first use: this module stays stdlib-only to import).
_codec_cache: list[Any] = []


def _codec() -> tuple[Any, Any]:
    if not _codec_cache:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        _codec_cache[:] = [TypeSerializer(), TypeDeserializer()]
    return _codec_cache[0], _codec_cache[1]


def to_attribute_values(item: Mapping[str, Any]) -> dict[str, Any]:
    """A boto3-ready item (Decimals, see :func:`to_dynamodb_item`) -> the client API's attribute values."""
    serializer, _ = _codec()
    return {k: serializer.serialize(v) for k, v in item.items()}


def from_attribute_values(item: Mapping[str, Any]) -> dict[str, Any]:
    """The client API's attribute values -> a Python item (numbers as Decimal)."""
    _, deserializer = _codec()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def item_to_record(item: Mapping[str, Any]) -> FaceRecord:
    """A DynamoDB item (as returned by boto3, Decimals allowed) -> :class:`FaceRecord`."""
    plain = from_dynamodb_item(dict(item))
    captured = parse_time(plain.get("captured_at")) or datetime.now(UTC)
    faces = tuple(
        FaceResult(
            bounding_box={k: float(v) for k, v in (f.get("bounding_box") or {}).items()},
            emotions={k: float((f.get("emotions") or {}).get(k, 0.0)) for k in EMOTIONS},
            dominant=f.get("dominant"),
            confidence=float(f.get("confidence") or 0.0),
            age_range=f.get("age_range"),
        )
        for f in plain.get("faces") or []
    )
    meta = CaptureMeta(
        session=plain.get("session") or "default",
        camera=plain.get("camera") or "unknown",
        captured_at=captured,
        track_id=plain.get("track_id"),
    )
    return FaceRecord(key=plain["s3key"], meta=meta, faces=faces)
