"""``crowdmood booths``: every booth on the account, its state and its crowd line.

    crowdmood booths [--json] [--minutes M] [--region R] [--profile P]
    crowdmood booths --gui [--every S]       (the all-booths window; no camera needed)

A booth is a camera that sent a heartbeat in the last three hours (``crowdmood agent``, or
a console in AWS mode). State: live (a beat in the last 30 s), stale (5 min), offline.
One ListMetrics (discovery) and one GetMetricData call (every booth's heartbeat and lines,
and the all-booths line); ``--json`` prints them all, the table the latest values.
"""

from __future__ import annotations

import argparse
import json
import sys

from crowdmood_gui.core.errors import AwsError


def add_parser(subparsers) -> None:
    from crowdmood_gui.core.flags import add_config_arguments

    parser = subparsers.add_parser(
        "booths",
        help="list the booths on the AWS account: live / stale / offline, and their crowd lines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document: booths, lines, the all-booths line")
    parser.add_argument("--minutes", type=float, default=15.0, help="how much of each line (default 15)")
    parser.add_argument("--gui", action="store_true", help="open the all-booths window (small multiples, click for a booth's chart)")
    parser.add_argument("--every", type=float, default=30.0, metavar="SECONDS", help="with --gui: seconds between polls (default 30)")
    parser.add_argument("--exit-after", type=float, metavar="SECONDS", help=argparse.SUPPRESS)  # tests
    parser.add_argument("--region", help="AWS region (default: the config, then the standard chain)")
    parser.add_argument("--profile", help="AWS profile (default: the config, then the standard chain)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from crowdmood_gui.core.aws.booths import BoothsMonitor
    from crowdmood_gui.core.aws.clients import client, describe_aws_error, make_session
    from crowdmood_gui.core.config import load_config

    overrides: dict = {}
    for flag in ("region", "profile"):
        if getattr(args, flag):
            overrides.setdefault("aws", {})[flag] = getattr(args, flag)
    config = load_config(args.config, overrides)
    if not 1 <= args.minutes <= 180:
        from crowdmood_gui.core.errors import InputError

        raise InputError("--minutes: 1 to 180 (high-resolution metrics are kept 3 hours)")
    if args.every < 10:
        from crowdmood_gui.core.errors import InputError

        raise InputError("--every: at least 10 seconds (the heartbeat's period; each poll is billed)")
    if args.gui:
        return run_window(config, args)
    monitor = BoothsMonitor(client(make_session(config.aws), "cloudwatch"), namespace=config.aws.namespace,
                            window_s=args.minutes * 60)
    try:
        snapshot = monitor.poll()
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"cannot read the booths: {describe_aws_error(exc)}") from None
    if args.json:
        print(json.dumps(snapshot.to_json(), indent=2, ensure_ascii=False))
        return 0
    if not snapshot.booths:
        print(f"no booth sent a heartbeat in the last 3 hours (namespace {config.aws.namespace})")
        return 0
    print(f"{'CAMERA':<16} {'STATE':<8} {'BEAT':>6} {'FPS':>5} {'FACES':>5} {'SPOOL':>5} {'UPLOAD':>7}  "
          f"{'HAPPY':>5} {'CALM':>5}  SESSION")
    for booth in snapshot.booths:
        latest = next((r for r in reversed(booth.line) if r.faces), None)
        happy = latest.emotions.get("HAPPY") if latest else None
        calm = latest.emotions.get("CALM") if latest else None
        flag = "  (two agents share this camera name)" if booth.duplicate else ""
        print(f"{booth.camera:<16} {booth.state:<8} {_num(booth.beat_age_s, 's'):>6} {_num(booth.frames_per_s):>5} "
              f"{_num(booth.faces_in_view):>5} {_num(booth.spool_depth):>5} {_num(booth.seconds_since_upload, 's'):>7}  "
              f"{_num(happy):>5} {_num(calm):>5}  {booth.session}{flag}")
    print(f"({len(snapshot.booths)} booth(s); {snapshot.metric_calls} GetMetricData call(s), "
          f"{snapshot.metrics_requested} metrics requested)", file=sys.stderr)
    return 0


def run_window(config, args: argparse.Namespace) -> int:
    """The all-booths window on its own (an organiser's laptop, no camera)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from crowdmood_gui.ui.app import apply_dark_theme
    from crowdmood_gui.ui.booths_window import open_booths_window

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_dark_theme(app)
    window = open_booths_window(config, poll_interval_s=args.every, window_s=args.minutes * 60)
    if args.exit_after is not None:
        QTimer.singleShot(int(args.exit_after * 1000), window.close)
    app.setQuitOnLastWindowClosed(True)
    return int(app.exec())


def _num(value, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.0f}{unit}" if isinstance(value, float) else f"{value}{unit}"
