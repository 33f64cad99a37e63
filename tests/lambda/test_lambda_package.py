"""The handler imports from a package laid out like the Lambda zip, and needs nothing else
from crowdmood_gui than records.py and emotions.py (stdlib + boto3 only)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from crowdmood_gui.core.resources import LAMBDA_SOURCE, bundled_dir

ROOT = bundled_dir(LAMBDA_SOURCE).parent.parent  # the folder holding crowdmood_gui/
SHARED = ("crowdmood_gui/__init__.py", "crowdmood_gui/core/__init__.py",
          "crowdmood_gui/core/records.py", "crowdmood_gui/core/emotions.py")


def test_handler_imports_from_a_zip_layout(tmp_path):
    for src in bundled_dir(LAMBDA_SOURCE).glob("*.py"):
        shutil.copy(src, tmp_path / src.name)
    for rel in SHARED:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import handler\n"
        "from crowdmood_gui.core import records\n"
        f"assert records.__file__.startswith({str(tmp_path)!r}), records.__file__\n"
        "ours = sorted(m for m in sys.modules if m.startswith('crowdmood_gui'))\n"
        "third = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'cv2', 'pydantic', 'PySide6', 'onnxruntime'})\n"
        "print(','.join(ours)); print(','.join(third))\n"
        "assert callable(handler.lambda_handler)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ours, third = out.stdout.strip().splitlines() + [""] * (2 - len(out.stdout.strip().splitlines()))
    assert set(ours.split(",")) == {"crowdmood_gui", "crowdmood_gui.core", "crowdmood_gui.core.records", "crowdmood_gui.core.emotions"}
    assert third == ""
