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
from typing import Any

# Before anything imports cv2: OpenCV's and FFmpeg's own warnings ("moov atom not found",
# "can't be used to capture by name") would bury our one-line error messages.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from crowdmood_gui import __version__
from crowdmood_gui.core.errors import CrowdMoodError

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


def seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number of seconds (``inf``/``nan`` refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    # Qt timers take at most 2**31 - 1 ms (about 24.8 days).
    if not math.isfinite(value) or value < 0 or value > 2_000_000:
        raise argparse.ArgumentTypeError(f"give a number of seconds between 0 and 2000000, not {text!r}")
    return value


def config_file(text: str) -> Path:
    """An argparse type: a configuration file the user named must exist (a typo in the
    path would otherwise run silently on the defaults)."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: no such configuration file")
    return path


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=config_file, help="TOML configuration file (default: the user config)")


def add_expression_argument(parser: argparse.ArgumentParser) -> None:
    from typing import get_args

    from crowdmood_gui.core.config import ExpressionConfig, ExpressionModelChoice

    parser.add_argument("--expression-model", choices=get_args(ExpressionModelChoice),
                        help=f"local expression model (config expression.model; default: {ExpressionConfig().model})")


def expression_overrides(args: argparse.Namespace) -> dict:
    """Config overrides from ``--expression-model``."""
    model = getattr(args, "expression_model", None)
    return {"expression": {"model": model}} if model else {}


def checked_source(text: str) -> str:
    """``--source`` checked before any window opens or any thread starts (one line, exit 2 on a
    bad one); a relative file path becomes absolute, since the console remembers its last source."""
    from crowdmood_gui.core.capture import SourceSpec
    from crowdmood_gui.core.errors import InputError

    spec = SourceSpec.parse(text)  # InputError: "invalid URL 'http://[::1': ..."
    if spec.kind == "file":
        if not spec.path.exists():
            raise InputError(f"{spec.path}: no such video file")
        return str(spec.path.resolve())
    return spec.text


def config_overrides(args: Any) -> dict[str, Any]:
    """Nested config overrides from the flags of the console and of ``crowdmood agent``."""
    overrides: dict[str, Any] = {}
    source = getattr(args, "source", None)
    if source:
        overrides.setdefault("source", {})["spec"] = checked_source(str(source))
    if getattr(args, "no_loop", False):
        overrides.setdefault("source", {})["loop"] = False
    backend = getattr(args, "backend", None)
    if backend:
        overrides["backend"] = backend
    session = getattr(args, "session", None)
    if session:
        overrides["session"] = session
    camera = getattr(args, "camera", None)
    if camera:
        overrides["camera"] = camera
    for flag in ("bucket", "region"):  # the agent: a booth box configured by flags alone
        value = getattr(args, flag, None)
        if value:
            overrides.setdefault("aws", {})[flag] = value
    overrides.update(expression_overrides(args))
    return overrides


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
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a subcommand not built yet
        module.add_parser(subparsers)
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
