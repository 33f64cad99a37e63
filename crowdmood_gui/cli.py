"""``crowdmood``: the console (default) and its headless twins.

    crowdmood [--source S] [--backend local|aws] [--exit-after N] [--stats-out F]
    crowdmood analyze VIDEO|IMAGE... [...]
    crowdmood sessions list | export SESSION --out DIR
    crowdmood setup --yes [...] | teardown --yes
    crowdmood agent --source S --camera NAME [...]   (headless booth agent)
    crowdmood booths [--json]

Exit codes: 0 success, 2 bad input or a failure the user can act on (one line on stderr,
never a traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

# Before anything imports cv2: OpenCV's and FFmpeg's own warnings ("moov atom not found",
# "can't be used to capture by name") would bury our one-line error messages.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from crowdmood_gui import __version__
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.flags import add_config_arguments, add_expression_argument, seconds

# Subcommand modules, imported only when their command runs (keeps start-up fast).
SUBCOMMANDS = (
    "crowdmood_gui.commands.analyze",
    "crowdmood_gui.commands.sessions",
    "crowdmood_gui.commands.aws_setup",
    "crowdmood_gui.commands.agent",
    "crowdmood_gui.commands.booths",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit code is 2 too; keep one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="crowdmood", description="Live crowd facial-expression console.")
    parser.add_argument("--version", action="version", version=f"crowdmood {__version__}")
    add_config_arguments(parser)
    add_expression_argument(parser)
    parser.add_argument("--source", help="camera index, video file, rtsp:// or http(s):// MJPEG URL")
    parser.add_argument("--backend", choices=("local", "aws"), help="analysis backend (default: local)")
    parser.add_argument("--no-loop", action="store_true", help="play a video file once instead of looping")
    parser.add_argument("--exit-after", type=seconds, metavar="SECONDS", help="close cleanly after this many seconds")
    parser.add_argument("--stats-out", type=Path, metavar="FILE", help="write measured live figures as JSON on exit")
    parser.add_argument("--session", help="name of the session to record")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "func", None) is not None:
            return int(args.func(args) or 0)
        from crowdmood_gui.ui.app import run_console

        return run_console(args)
    except CrowdMoodError as exc:
        print(f"crowdmood: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crowdmood: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
