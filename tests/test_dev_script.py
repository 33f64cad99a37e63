"""``./dev`` on a fresh machine (issue #14): the library check survives pipefail + SIGPIPE,
and a user without root or sudo gets the one command to run instead of a failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "dev"


def _function(name: str) -> str:
    text = DEV.read_text()
    match = re.search(rf"^{name}\(\) \{{.*?\}}$", text, re.M | re.S)
    assert match, f"{name} not found in ./dev"
    return match.group(0)


def _fake_bin(tmp_path: Path, scripts: dict[str, str], keep: tuple[str, ...]) -> Path:
    """A PATH holding only ``keep`` (real tools) and the fake ``scripts``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in keep:
        real = shutil.which(tool)
        if real:
            (bin_dir / tool).symlink_to(real)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body + "\n")
        path.chmod(0o755)
    return bin_dir


def test_have_lib_is_not_fooled_by_sigpipe(tmp_path):
    # ldconfig's output is large, and the library is on its first line: `grep -q` would exit
    # there, ldconfig would die of SIGPIPE, and pipefail would call the library missing.
    fake = _fake_bin(tmp_path, {"ldconfig": 'echo "\tlibGL.so.1 (libc6,x86-64) => /usr/lib/libGL.so.1"\n'
                                            'for i in $(seq 1 20000); do echo "\tlibfiller$i.so.0 => /x"; done'},
                     keep=("grep", "seq"))
    script = f"set -euo pipefail\n{_function('have_lib')}\nfor i in 1 2 3 4 5; do have_lib libGL.so.1; done\necho found"
    proc = subprocess.run([shutil.which("bash"), "-c", script], capture_output=True, text=True,
                          env={"PATH": str(fake)}, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "found", proc.stderr


def test_without_root_or_sudo_it_prints_the_one_command_to_run(tmp_path):
    marker = tmp_path / "apt-get-was-run"
    fake = _fake_bin(tmp_path, {
        "id": 'if [ "$1" = "-u" ]; then echo 1000; else exec /usr/bin/id "$@"; fi',
        "ldconfig": "exit 0",  # no library found
        "apt-get": f"touch {marker}; exit 1",
        "apt-cache": 'echo "  Candidate: 1.0"',
    }, keep=("bash", "grep", "sed", "cut", "sha1sum", "cat", "dirname", "env", "python3", "printf"))
    assert not (fake / "sudo").exists()
    proc = subprocess.run([shutil.which("bash"), str(DEV), "test"], capture_output=True, text=True,
                          env={"PATH": str(fake), "HOME": str(tmp_path)}, timeout=60)
    assert proc.returncode == 1
    assert "no root or sudo" in proc.stderr
    command = next(line for line in proc.stderr.splitlines() if "apt-get install" in line)
    assert "apt-get update && apt-get install -y --no-install-recommends libgl1" in command
    assert "libglib2.0-0t64" in command  # the first name apt knows
    assert "run ./dev test again" in proc.stderr
    assert not marker.exists()


def test_demo_passes_an_absolute_demo_path():
    text = DEV.read_text()
    assert "--source resources/demo/demo.mp4" not in text
    assert "DEMO_VIDEO.resolve()" in text
