"""Architecture rules, checked rather than hoped for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import crowdmood_gui

CORE = Path(crowdmood_gui.__file__).parent / "core"


def test_core_never_imports_qt_even_transitively():
    # A fresh interpreter: import every core module, then look at what got loaded.
    modules = sorted(
        "crowdmood_gui.core." + ".".join(p.relative_to(CORE).with_suffix("").parts)
        for p in CORE.rglob("*.py")
        if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core pulled in Qt: {out.stdout.strip()}"
    assert len(modules) >= 4  # the check ran over real modules


def test_shared_record_logic_is_stdlib_only():
    # The Lambda zip ships records.py + emotions.py: they must import with no third-party package.
    code = (
        "import sys\n"
        "import crowdmood_gui.core.records\n"
        "third = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'cv2', 'boto3', 'botocore', 'pydantic', 'onnxruntime'})\n"
        "print(','.join(third))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(CORE.parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
