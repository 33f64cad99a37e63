"""The agent as a service: the systemd unit (parsed, and verified by systemd-analyze where it
exists), ``--install-service``, and the Greengrass v2 recipe against the documented fields."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from crowdmood_gui.cli import main
from crowdmood_gui.core.service import DEFAULT_EXECUTABLE, GREENGRASS_RECIPE, UNIT_TEMPLATE, render_env_file, render_unit

DATA = Path(__file__).parents[1] / "data"


def _unit(text: str) -> configparser.ConfigParser:
    # systemd allows repeated keys (Environment=): strict=False keeps the last, enough here.
    parser = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str
    parser.read_string(text)
    return parser


def _environment(service) -> dict[str, str]:
    """All Environment= lines (configparser keeps one of them: read them from the text)."""
    return dict(m.split("=", 1) for m in re.findall(r"^Environment=(\S+)$", UNIT_TEMPLATE.read_text(), re.M))


def test_the_unit_restarts_hardens_and_reads_an_environment_file():
    unit = _unit(UNIT_TEMPLATE.read_text(encoding="utf-8"))
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["ExecStart"].startswith(f"{DEFAULT_EXECUTABLE} agent --source ${{CROWDMOOD_SOURCE}} --camera ${{CROWDMOOD_CAMERA}}")
    assert service["EnvironmentFile"] == "/etc/crowdmood/agent.env"
    assert (service["Restart"], service["RestartSec"], service["KillSignal"]) == ("always", "5", "SIGTERM")
    assert service["RestartPreventExitStatus"] == "2"  # a bad configuration is not retried forever
    assert int(service["TimeoutStopSec"]) >= 15  # more than the agent's own 10 s stop
    assert unit["Unit"]["StartLimitIntervalSec"] == "0" and "network-online.target" in unit["Unit"]["After"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                       "DynamicUser": "yes", "CapabilityBoundingSet": "", "RestrictNamespaces": "yes",
                       "SystemCallFilter": "@system-service", "DevicePolicy": "closed"}.items():
        assert service[key] == value, key
    assert service["StateDirectory"] == "crowdmood"
    assert _environment(service)["CROWDMOOD_HOME"] == "/var/lib/crowdmood"  # the spool survives restarts
    assert not re.search(r"AWS_(SECRET|ACCESS_KEY)", UNIT_TEMPLATE.read_text())  # no secret in the unit
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_rendered_unit(tmp_path):
    executable = shutil.which("crowdmood") or str(Path(__import__("sys").executable).with_name("crowdmood"))
    unit = tmp_path / "crowdmood-agent.service"
    unit.write_text(render_unit(executable), encoding="utf-8")
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # A misspelt directive is reported by the same check (so the check can fail).
    bad = tmp_path / "bad-agent.service"
    bad.write_text(render_unit(executable).replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"), encoding="utf-8")
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(bad)], capture_output=True, text=True)
    assert "Unknown key" in out.stderr and "NoNewPrivilege" in out.stderr


def test_install_service_writes_the_unit_and_the_environment_file(tmp_path, capsys):
    unit, env = tmp_path / "units" / "crowdmood-agent.service", tmp_path / "etc" / "agent.env"
    argv = ["agent", "--source", "rtsp://cam.local/stream", "--camera", "booth-a", "--backend", "aws",
            "--bucket", "crowdmood-faces-abc", "--region", "eu-west-1", "--session", "Expo day 1",
            "--install-service", "--unit-path", str(unit), "--env-path", str(env)]
    assert main(argv) == 0
    assert "systemctl enable --now crowdmood-agent" in capsys.readouterr().out
    assert _unit(unit.read_text())["Service"]["EnvironmentFile"] == "/etc/crowdmood/agent.env"
    values = dict(line.split("=", 1) for line in env.read_text().splitlines() if line and not line.startswith("#"))
    assert values == {"CROWDMOOD_SOURCE": "rtsp://cam.local/stream", "CROWDMOOD_CAMERA": "booth-a", "CROWDMOOD_BACKEND": "aws",
                      "CROWDMOOD_SESSION": '"Expo day 1"', "CROWDMOOD_AGENT_ARGS": '"--bucket crowdmood-faces-abc --region eu-west-1"',
                      "AWS_REGION": "eu-west-1"}
    assert env.stat().st_mode & 0o777 == 0o640
    # A second install keeps the operator's edited environment file.
    env.write_text("CROWDMOOD_CAMERA=edited\n")
    assert main(argv) == 0
    assert env.read_text() == "CROWDMOOD_CAMERA=edited\n" and "kept the existing" in capsys.readouterr().out
    # Names are validated before anything is written.
    assert main([*argv[:4], "bad name", *argv[5:]]) == 2


def test_an_empty_session_in_the_environment_file_means_the_default():
    text = render_env_file(source="0", camera="booth-a")
    assert 'CROWDMOOD_SESSION=""' in text and 'CROWDMOOD_AGENT_ARGS=""' in text


def test_the_greengrass_recipe_has_the_documented_fields():
    recipe = yaml.safe_load(GREENGRASS_RECIPE.read_text(encoding="utf-8"))
    assert recipe["RecipeFormatVersion"] == "2020-01-25"  # a string, the only version
    assert re.fullmatch(r"[A-Za-z0-9._-]+", recipe["ComponentName"]) and recipe["ComponentName"].count(".") >= 2
    assert re.fullmatch(r"\d+\.\d+\.\d+", recipe["ComponentVersion"])  # semantic version, as a string
    defaults = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert {"Source", "Camera", "Bucket", "Region"} <= set(defaults)
    assert "aws.greengrass.TokenExchangeService" in recipe["ComponentDependencies"]  # credentials for boto3
    platforms = {(m["Platform"]["os"], m["Platform"].get("architecture")) for m in recipe["Manifests"]}
    assert platforms == {("linux", "aarch64"), ("linux", "amd64")}
    allowed_top = {"RecipeFormatVersion", "ComponentName", "ComponentVersion", "ComponentDescription",
                   "ComponentPublisher", "ComponentSource", "ComponentDependencies", "ComponentConfiguration",
                   "ComponentType", "Manifests", "Lifecycle"}
    assert set(recipe) <= allowed_top
    for manifest in recipe["Manifests"]:
        lifecycle = manifest["Lifecycle"]
        assert set(lifecycle) <= {"Setenv", "Bootstrap", "Install", "Startup", "Run", "Shutdown", "Recover"}
        run = lifecycle["Run"]["Script"]
        assert "crowdmood agent" in run and "--backend aws" in run
        for key in ("Source", "Camera", "Bucket"):
            assert f"{{configuration:/{key}}}" in run, key  # every setting reaches the agent
            assert key in defaults
        assert lifecycle["Run"]["Setenv"]["CROWDMOOD_HOME"] == "{work:path}/home"  # the spool persists
        assert all(a["URI"].startswith("s3://") for a in manifest["Artifacts"])
        artifact = manifest["Artifacts"][0]["URI"].rsplit("/", 1)[1]
        assert f"{{artifacts:path}}/{artifact}" in lifecycle["Install"]["Script"]
