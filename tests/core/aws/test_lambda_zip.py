"""The Lambda package: reproducible bytes, the right files, importable with stdlib + boto3 only."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from crowdmood_gui.core.aws import lambda_zip
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.resources import LAMBDA_SOURCE, package_files

def _stub_root(tmp_path: Path) -> Path:
    """A ``crowdmood_gui`` folder with a stub handler and the real shared modules."""
    package_dir = tmp_path / "crowdmood_gui"
    (package_dir / LAMBDA_SOURCE).mkdir(parents=True)
    (package_dir / LAMBDA_SOURCE / "handler.py").write_text(
        "from crowdmood_gui.core import records\n\ndef lambda_handler(event, context):\n    return records.FACES_METRIC\n"
    )
    for rel in lambda_zip.SHARED_MODULES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(package_files().joinpath(*rel.split("/")[1:]).read_bytes())
    return package_dir


def test_package_is_deterministic_and_sorted(tmp_path):
    root = _stub_root(tmp_path)
    first = lambda_zip.build_lambda_zip(root)
    os.utime(root / LAMBDA_SOURCE / "handler.py", (0, 0))  # mtimes must not matter
    assert lambda_zip.build_lambda_zip(root) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == sorted(names)
    assert names == sorted(["handler.py", *lambda_zip.SHARED_MODULES])
    infos = zipfile.ZipFile(io.BytesIO(first)).infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert lambda_zip.code_sha256(first) == lambda_zip.code_sha256(lambda_zip.build_lambda_zip(root))
    (root / LAMBDA_SOURCE / "handler.py").write_text("def lambda_handler(e, c):\n    return 1\n")
    assert lambda_zip.code_sha256(lambda_zip.build_lambda_zip(root)) != lambda_zip.code_sha256(first)


def test_missing_handler_is_a_clear_error(tmp_path):
    with pytest.raises(CrowdMoodError, match="handler.py is missing"):
        lambda_zip.build_lambda_zip(tmp_path)


def _import_in_fresh_interpreter(package: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    """Extract the zip, then import handler with only the stdlib, boto3/botocore and the zip on the path."""
    code_dir = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(package)).extractall(code_dir)
    import boto3
    import botocore

    deps = tmp_path / "deps"  # like the Lambda runtime: boto3 and its dependencies only
    deps.mkdir()
    import importlib.util

    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        origin = Path(spec.origin)
        target = origin.parent if origin.name == "__init__.py" else origin
        (deps / target.name).symlink_to(target)
    assert boto3 and botocore
    code = (
        "import sys, importlib\n"
        "handler = importlib.import_module('handler')\n"
        "assert callable(handler.lambda_handler)\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'cv2', 'pydantic', 'PySide6', 'onnxruntime', 'platformdirs', 'tomli_w'})\n"
        "print('ok', ','.join(bad))\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(code_dir), str(deps)]), "AWS_DEFAULT_REGION": "us-east-1", "PATH": os.environ.get("PATH", "")}
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


def test_stub_package_imports_in_a_fresh_interpreter(tmp_path):
    out = _import_in_fresh_interpreter(lambda_zip.build_lambda_zip(_stub_root(tmp_path / "root")), tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_real_package_imports_in_a_fresh_interpreter(tmp_path):
    package = lambda_zip.build_lambda_zip()
    names = zipfile.ZipFile(io.BytesIO(package)).namelist()
    assert "handler.py" in names and "crowdmood_gui/core/records.py" in names
    assert not any(n.startswith("tests/") or "__pycache__" in n for n in names)
    out = _import_in_fresh_interpreter(package, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
