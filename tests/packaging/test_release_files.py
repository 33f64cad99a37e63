"""Release files: one version, the licence, py.typed, and the Linux menu entry."""

from __future__ import annotations

import configparser
import os
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import crowdmood_gui
from crowdmood_gui.core.resources import package_files

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"


def test_the_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert version("crowdmood-gui") == crowdmood_gui.__version__  # the installed metadata agrees


def test_version_flag_and_about_show_the_installed_version(qtbot, capsys):
    from crowdmood_gui.cli import main
    from crowdmood_gui.ui.about import about_html

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"crowdmood {version('crowdmood-gui')}\n"
    assert f"<h2>crowdmood {version('crowdmood-gui')}</h2>" in about_html()


def test_licence_and_typing_marker_ship():
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert (package_files() / "py.typed").is_file()


def desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_the_menu_entry_is_installed_with_the_program_and_icon(tmp_path):
    program = tmp_path / "my apps" / "crowdmood-gui"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    out = subprocess.run([str(LINUX / "install-desktop-entry"), str(program)], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    share = tmp_path / "home" / ".local" / "share"
    entry = desktop_entry(share / "applications" / "crowdmood.desktop")
    assert entry["Exec"] == f'"{program}"'  # quoted: the path has a space
    assert entry["Icon"] == "crowdmood" and entry["Type"] == "Application" and entry["Terminal"] == "false"
    # The icon is the package's, and the window's desktop file name (ui/app.py) matches the entry.
    icon = share / "icons" / "hicolor" / "scalable" / "apps" / "crowdmood.svg"
    assert icon.read_bytes() == (package_files() / "resources" / "icons" / "crowdmood.svg").read_bytes()
    assert 'setDesktopFileName("crowdmood")' in (ROOT / "crowdmood_gui" / "ui" / "app.py").read_text(encoding="utf-8")


def test_no_program_is_a_one_line_error(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([str(LINUX / "install-desktop-entry")], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip() == "install-desktop-entry: no crowdmood program found: pass its path"
    assert not os.path.exists(tmp_path / ".local")
