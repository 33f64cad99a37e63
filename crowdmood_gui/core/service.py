"""The booth agent as a service: the bundled systemd unit and Greengrass recipe, and the
environment file that configures the unit (``crowdmood agent --install-service``).

The unit in ``crowdmood_gui/resources/agent/`` is usable as it is (copied by hand it runs
``/opt/crowdmood/.venv/bin/crowdmood``); rendering only points ``ExecStart`` at the
``crowdmood`` that is installing it.
"""

from __future__ import annotations

from pathlib import Path

from crowdmood_gui.core.config import RESOURCES_DIR

AGENT_RESOURCES = RESOURCES_DIR / "agent"  # follows RESOURCES_DIR wherever bundled data moves
UNIT_TEMPLATE = AGENT_RESOURCES / "crowdmood-agent.service"
GREENGRASS_RECIPE = AGENT_RESOURCES / "greengrass-recipe.yaml"
DEFAULT_EXECUTABLE = "/opt/crowdmood/.venv/bin/crowdmood"


def render_unit(executable: Path | str | None = None, template: Path = UNIT_TEMPLATE) -> str:
    """The unit file's text, with ``ExecStart`` running ``executable`` (default: as shipped)."""
    text = template.read_text(encoding="utf-8")
    if executable is not None:
        text = text.replace(f"ExecStart={DEFAULT_EXECUTABLE} ", f"ExecStart={executable} ", 1)
    return text


def render_env_file(*, source: str, camera: str, backend: str = "aws", session: str | None = None,
                    bucket: str | None = None, region: str | None = None) -> str:
    """``/etc/crowdmood/agent.env``: what the unit's ``ExecStart`` expands. systemd reads it
    as ``KEY=value`` lines; values with spaces are double-quoted."""
    extra: list[str] = []
    for flag, value in (("--bucket", bucket), ("--region", region)):
        if value:
            extra += [flag, value]

    def line(key: str, value: str) -> str:
        quoted = f'"{value}"' if any(c.isspace() for c in value) or not value else value
        return f"{key}={quoted}"

    lines = [
        "# crowdmood booth agent (read by crowdmood-agent.service). Changes need: systemctl restart crowdmood-agent",
        line("CROWDMOOD_SOURCE", source),
        line("CROWDMOOD_CAMERA", camera),
        line("CROWDMOOD_BACKEND", backend),
        line("CROWDMOOD_SESSION", session or ""),
        # systemd splits this one at whitespace and honours no quotes: plain words only.
        line("CROWDMOOD_AGENT_ARGS", " ".join(extra)),
        "# AWS credentials from the standard chain, never in the unit: e.g.",
        "# AWS_SHARED_CREDENTIALS_FILE=/etc/crowdmood/aws-credentials  (mode 0640, group of the service)",
        "# AWS_PROFILE=booth",
    ]
    if region:
        lines.append(line("AWS_REGION", region))
    return "\n".join(lines) + "\n"
