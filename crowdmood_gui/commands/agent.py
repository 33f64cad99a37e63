"""``crowdmood agent``: the headless booth agent for a small always-on Linux box.

    crowdmood agent --source SRC --camera NAME [--backend aws|local] [--session S]
                    [--bucket B] [--region R] [--exit-after S] [--stats-out F]
    crowdmood agent --source SRC --camera NAME ... --install-service [--unit-path P] [--env-path P]

The same core as the console (``Pipeline`` in live mode) with no window and no Qt:
capture (reconnects with back-off) -> detect -> track -> sample -> the AWS backend (durable
spool -> S3, cost budget, booth heartbeat; no results polling: nobody watches here) or the
local backend (records in a local session). One JSON line per event worth knowing goes to
standard output (journald / Greengrass keep it): start, source_open, source_lost,
source_retry, source_reconnected, source_ended, source_failed, first_upload, spool_backlog,
spool_drained, heartbeat_failed, duplicate_camera, warning, stop.

SIGTERM and SIGINT take the pipeline's one shutdown path: crops already spooled stay on disk
and are uploaded by the next start (each exactly once: the key is fixed at spool time).
Exit codes: 0 after a stop, 2 for bad input (a bad name, a source that failed for good).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from crowdmood_gui.core.errors import InputError

if TYPE_CHECKING:  # the annotations only: the agent imports the pipeline and boto3 when it runs
    from crowdmood_gui.core.backends.aws import AwsBackend
    from crowdmood_gui.core.pipeline import PipelineControl

DEFAULT_UNIT_PATH = Path("/etc/systemd/system/crowdmood-agent.service")
DEFAULT_ENV_PATH = Path("/etc/crowdmood/agent.env")
STOP_TIMEOUT_S = 10.0  # within systemd's TimeoutStopSec and Greengrass's stop timeout
BACKLOG_STEPS = (10, 100, 1000, 10_000)  # spool depths worth one line each
# One crop per person every few seconds needs no 30 Hz detection: 10 Hz keeps tracks
# through ordinary movement at a third of the CPU (bench/bench_agent.py).
AGENT_DETECT_HZ = 10.0


def add_parser(subparsers) -> None:
    from crowdmood_gui.core.flags import add_config_arguments

    parser = subparsers.add_parser(
        "agent",
        help="run a booth headless: capture, detect, track, sample, upload (no window, no Qt)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    parser.add_argument("--source", required=True, help="camera index, video file, rtsp:// or http(s):// MJPEG URL")
    parser.add_argument("--camera", required=True, help="this booth's camera name (e.g. booth-a): its identity in S3 and CloudWatch")
    parser.add_argument("--backend", choices=("local", "aws"), help="analysis backend (default: the config's, else local)")
    parser.add_argument("--session", help="session name (default or empty: <camera>-<UTC date and time>)")
    parser.add_argument("--bucket", help="AWS mode: the S3 bucket (default: the config's)")
    parser.add_argument("--region", help="AWS mode: the region (default: the config, then the standard chain)")
    parser.add_argument("--detect-hz", type=float, default=None, metavar="HZ",
                        help=f"detections per second (default: the config's detection.max_rate_hz, else {AGENT_DETECT_HZ:g}; 0: every frame)")
    parser.add_argument("--exit-after", type=float, metavar="SECONDS", help="stop cleanly after this many seconds")
    parser.add_argument("--stats-out", type=Path, metavar="FILE", help="write the run's figures as JSON on exit")
    parser.add_argument("--install-service", action="store_true",
                        help="write the systemd unit and its environment file for these flags, then exit")
    parser.add_argument("--unit-path", type=Path, default=DEFAULT_UNIT_PATH, help=f"with --install-service (default {DEFAULT_UNIT_PATH})")
    parser.add_argument("--env-path", type=Path, default=DEFAULT_ENV_PATH, help=f"with --install-service (default {DEFAULT_ENV_PATH})")
    parser.set_defaults(func=run)


# --- the structured log --------------------------------------------------------------


class JsonLog:
    """One JSON object per line: ``{"ts", "event", "camera", ...}``. Thread-safe."""

    def __init__(self, camera: str, stream: TextIO | None = None) -> None:
        self.camera = camera
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        line = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, "camera": self.camera}
        line.update({k: v for k, v in fields.items() if v is not None})
        text = json.dumps(line, ensure_ascii=False, default=str)
        with self._lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # a closed pipe must not stop the booth
                pass


def _pipeline_observer(log: JsonLog):
    from crowdmood_gui.core.aws.heartbeat import ERROR_PREFIX
    from crowdmood_gui.core.pipeline import NullObserver

    class AgentObserver(NullObserver):
        """Turns the pipeline's events into log lines (the frames themselves are ignored)."""

        def __init__(self) -> None:
            self.opened = 0
            self.lost = False
            self.failure: str | None = None
            self.stats = None
            self.backlog_step = 0

        def on_source(self, event) -> None:
            if event.state == "open":
                self.opened += 1
                name = "source_open" if self.opened == 1 else "source_reconnected"
                self.lost = False
                log(name, source=event.message, width=event.width, height=event.height, fps=round(event.fps, 2))
            elif event.state == "reconnecting":
                log("source_retry" if self.lost else "source_lost", message=event.message)
                self.lost = True
            elif event.state == "failed":
                self.failure = event.message
                log("source_failed", message=event.message)
            elif event.state == "ended":
                log("source_ended", message=event.message)

        def on_error(self, event) -> None:
            if event.message.startswith(ERROR_PREFIX):
                log("heartbeat_failed", message=event.message)
            else:
                log("warning", message=event.message, where=event.where or None)

        def on_stats(self, event) -> None:
            self.stats = event
            depth = event.upload_queue
            if depth is None:
                return
            step = sum(1 for threshold in BACKLOG_STEPS if depth >= threshold)
            if step > self.backlog_step:
                log("spool_backlog", depth=depth, message=f"{depth} crops waiting for S3 (kept on disk)")
            elif step == 0 and self.backlog_step > 0 and depth == 0:
                log("spool_drained", depth=0)
            if step > self.backlog_step or depth == 0:
                self.backlog_step = step

    return AgentObserver()


# --- the command ---------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    started_mono, started_cpu = time.monotonic(), time.process_time()
    started_at = datetime.now(UTC)
    from crowdmood_gui.core.process_stats import tune_gc_for_live, tune_malloc_for_frames

    tune_malloc_for_frames()
    args.session = args.session or None  # the unit passes an empty --session for "the default"
    from crowdmood_gui.core.flags import config_overrides
    from crowdmood_gui.core.aws.naming import validate_camera_name, validate_session_name
    from crowdmood_gui.core.capture import SourceSpec
    from crowdmood_gui.core.config import load_config

    problem = validate_camera_name(args.camera)
    if problem is None and args.session is not None:
        problem = validate_session_name(args.session)
    if problem:
        raise InputError(problem)
    spec = SourceSpec.parse(args.source)  # InputError: one line
    if spec.kind == "file" and not (spec.path and spec.path.is_file()):
        raise InputError(f"{spec.path}: no such video file")
    if args.install_service:
        return install_service(args)

    config = load_config(args.config, config_overrides(args))
    if args.detect_hz is not None:
        if not 0 <= args.detect_hz <= 120:
            raise InputError("--detect-hz: 0 (every frame) to 120 detections per second")
        config.detection.max_rate_hz = args.detect_hz
    elif not config.detection.max_rate_hz:
        config.detection.max_rate_hz = AGENT_DETECT_HZ
    session = config.session or f"{config.camera}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    if args.session is None:
        problem = validate_session_name(session)  # a session name that came from the config file
        if problem:
            raise InputError(problem)
    log = JsonLog(config.camera)
    observer = _pipeline_observer(log)

    backend = None
    if config.backend == "aws":
        if not config.aws.bucket:
            raise InputError("AWS mode needs a bucket: --bucket NAME, or run 'crowdmood setup' on this box")
        from crowdmood_gui.core.backends.aws import AwsBackend

        # No results polling: the agent shows nothing, so it pays for no GetMetricData/Query.
        backend = AwsBackend.from_config(config, session=session, poll=False)
    from crowdmood_gui.core.session_runner import SessionRun

    # Local: the session is recorded on this box (records, timeline); AWS: it lives in the account.
    run = SessionRun(config.model_copy(update={"session": session}), observer, backend=backend, realtime=True,
                     session=session if backend is None else None)
    pipeline = run.pipeline
    stop_reason = _StopReason()
    previous = _install_signal_handlers(stop_reason)
    log("start", session=session, backend=config.backend, source=spec.display_name, pid=os.getpid(),
        bucket=config.aws.bucket if config.backend == "aws" else None,
        budget_usd_per_hour=config.aws.budget_usd_per_hour if config.backend == "aws" else None)
    first_upload_s: float | None = None
    try:
        tune_gc_for_live()  # after the imports, before the live threads
        run.start()  # ModelError: one line, exit 2
        if backend is not None and backend.heartbeat is not None:
            threading.Thread(target=_check_namesake, args=(backend, log, started_at), name="crowdmood-namesake",
                             daemon=True).start()
        deadline = None if args.exit_after is None else started_mono + max(0.0, args.exit_after)
        while not run.wait(0.1):
            if backend is not None and first_upload_s is None and backend.first_upload_wall is not None:
                from crowdmood_gui.core.process_stats import seconds_since_process_start

                first_upload_s = seconds_since_process_start(backend.first_upload_wall)
                log("first_upload", seconds_since_start=first_upload_s)
            if stop_reason.value is None and deadline is not None and time.monotonic() >= deadline:
                stop_reason.value = "exit-after"
            if stop_reason.value is not None:
                break
    finally:
        run.stop(STOP_TIMEOUT_S)
        _restore_signal_handlers(previous)
    if backend is not None and first_upload_s is None and backend.first_upload_wall is not None:
        from crowdmood_gui.core.process_stats import seconds_since_process_start

        first_upload_s = seconds_since_process_start(backend.first_upload_wall)  # during the stop
        log("first_upload", seconds_since_start=first_upload_s)
    reason = stop_reason.value or ("source failed" if observer.failure else "source ended")
    figures = _figures(pipeline, backend, started_mono, started_cpu, first_upload_s)
    log("stop", reason=reason, frames=pipeline.frames_processed, records=pipeline.records_analysed,
        crops_uploaded=figures.get("crops_uploaded"), spool_left=figures.get("spool_left"),
        seconds=figures.get("wall_s"))
    if args.stats_out:
        from crowdmood_gui.core.process_stats import write_stats

        try:
            write_stats(args.stats_out, figures)
        except OSError as exc:  # the run itself is over and lost nothing: say why there is no file
            raise InputError(f"cannot write {args.stats_out}: {exc.strerror or exc}") from None
    if observer.failure and stop_reason.value is None:
        raise InputError(observer.failure)
    return 0


def _check_namesake(backend, log: JsonLog, started_at) -> None:
    """Warn when another agent already beats under this camera name: two booths with one
    name mix their crops, lines and health on the dashboard. (Also true right after a
    restart of this booth: the message says so.)"""
    from datetime import timedelta

    from botocore.exceptions import BotoCoreError, ClientError

    from crowdmood_gui.core.aws.booths import last_beat_of
    from crowdmood_gui.core.aws.clients import describe_aws_error

    window = timedelta(seconds=30)
    try:
        last = last_beat_of(backend.heartbeat.cloudwatch, namespace=backend.aws.namespace, camera=backend.camera,
                            since=started_at - window, until=started_at)
    except (ClientError, BotoCoreError) as exc:
        log("warning", message=f"cannot check for another agent named {backend.camera}: {describe_aws_error(exc)}")
        return
    if last is not None:
        age = (started_at - last).total_seconds()
        log("duplicate_camera", last_heartbeat=last.isoformat(),
            message=f"another agent sent a heartbeat as {backend.camera} {age:.0f} s before this one started: two "
                    "booths with one camera name mix their data (or this booth restarted within 30 s)")


class _StopReason:
    value: str | None = None


def _install_signal_handlers(reason: _StopReason) -> dict:
    previous = {}

    def handler(signum, _frame):
        reason.value = signal.Signals(signum).name

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (embedded use): the caller stops us
            pass
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)


def _figures(pipeline: PipelineControl, backend: AwsBackend | None, started_mono: float, started_cpu: float, first_upload_s: float | None) -> dict[str, Any]:
    from crowdmood_gui.core.process_stats import process_figures, qt_loaded

    figures: dict[str, Any] = process_figures(started_mono, started_cpu)
    wall = figures.get("wall_s") or 0.0
    figures["frames"] = pipeline.frames_processed
    figures["fps"] = round(pipeline.frames_processed / wall, 2) if wall > 0 else 0.0
    figures["records"] = pipeline.records_analysed
    mean_ms = pipeline.mean_detect_ms()
    figures["detect_ms_mean"] = round(mean_ms, 2) if mean_ms is not None else None
    if backend is not None:
        budget = backend.budget_stats()
        figures["crops_spooled"] = budget.images
        figures["crops_uploaded"] = backend.uploads
        figures["spool_left"] = backend.spool.depth() if backend.spool is not None else None
        figures["start_to_first_upload_s"] = first_upload_s
        figures["heartbeats_sent"] = backend.heartbeat.sent if backend.heartbeat is not None else 0
        figures["budget_images_per_hour"] = budget.images_per_hour
        figures["budget_denied"] = budget.denied  # crops the budget refused
    figures.update(qt_loaded())
    return figures


# --- running it as a service -----------------------------------------------------------


def install_service(args: argparse.Namespace) -> int:
    """Write the systemd unit (the bundled one, with this machine's ``crowdmood``) and, when
    missing, its environment file from the flags. Prints what to run next."""
    from crowdmood_gui.core.service import render_env_file, render_unit

    beside_python = Path(sys.executable).with_name("crowdmood")  # the venv's own script
    if beside_python.is_file():
        executable = beside_python
    elif Path(sys.argv[0]).name == "crowdmood":
        executable = Path(sys.argv[0]).resolve()
    else:
        executable = None  # the unit's default, /opt/crowdmood/.venv/bin/crowdmood
    unit = render_unit(executable)
    env = render_env_file(source=args.source, camera=args.camera, backend=args.backend or "aws",
                          session=args.session, bucket=args.bucket, region=args.region)
    try:
        args.unit_path.parent.mkdir(parents=True, exist_ok=True)
        args.unit_path.write_text(unit, encoding="utf-8")
        if args.env_path.exists():
            kept = True
        else:
            args.env_path.parent.mkdir(parents=True, exist_ok=True)
            args.env_path.write_text(env, encoding="utf-8")
            os.chmod(args.env_path, 0o640)
            kept = False
    except OSError as exc:
        raise InputError(f"cannot write {exc.filename}: {exc.strerror} (run as root, or give --unit-path/--env-path)") from None
    print(f"wrote {args.unit_path}")
    print(f"{'kept the existing' if kept else 'wrote'} {args.env_path}")
    print(f"next: sudo systemctl daemon-reload && sudo systemctl enable --now {args.unit_path.stem}")
    print(f"      journalctl -u {args.unit_path.stem} -f   # one JSON line per event")
    return 0
