"""The command-line flags the console and the subcommands share, and the config overrides they
give (config: TOML + these flags, ``core/config.py``).

Here, below ``ui`` and ``commands``, so both can use them without importing the ``cli`` entry
point that dispatches to them (the import-linter layers in ``pyproject.toml``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


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
