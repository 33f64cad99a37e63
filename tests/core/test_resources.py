"""Bundled files are found through importlib.resources, not through a checkout: the package
imported from a zipped copy (no folder of ours on sys.path) still loads its models, finds a
face and builds the same Lambda zip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from crowdmood_gui.core import resources
from crowdmood_gui.core.aws.lambda_zip import build_lambda_zip, code_sha256
from crowdmood_gui.core.config import DEMO_VIDEO, MODELS_DIR

CHILD = r"""
import json, os, sys
zip_path, checkout, image = sys.argv[1:4]
# Nothing of the checkout: not the editable install's path entry, not the current folder.
sys.path[:] = [zip_path] + [p for p in sys.path if p and os.path.realpath(p) != checkout]
import cv2
import crowdmood_gui
from crowdmood_gui.core import resources
from crowdmood_gui.core.aws.lambda_zip import build_lambda_zip, code_sha256
from crowdmood_gui.core.detection import DEFAULT_MODEL, FaceDetector
from crowdmood_gui.core.expression import ExpressionModel

faces = FaceDetector(threads=1).detect(cv2.imread(image))
ExpressionModel(threads=1)
print(json.dumps({
    "package": crowdmood_gui.__file__,
    "resources": str(resources.RESOURCES_DIR),
    "model": str(DEFAULT_MODEL),
    "demo_exists": resources.DEMO_VIDEO.is_file(),
    "faces": len(faces),
    "lambda_sha": code_sha256(build_lambda_zip()),
}))
"""


def _zip_package(dest: Path) -> Path:
    package_dir = resources.bundled_dir(".")  # the package's own folder in this process
    with zipfile.ZipFile(dest, "w") as archive:
        for path in sorted(package_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, Path("crowdmood_gui") / path.relative_to(package_dir))
    return dest


def test_checkout_copy_resolves_to_the_package_folder():
    package_dir = resources.bundled_dir(".")
    assert MODELS_DIR == resources.RESOURCES_DIR / "models"
    assert MODELS_DIR.parent.parent.resolve() == package_dir.resolve()
    assert (MODELS_DIR / "face_detector.onnx").is_file() and DEMO_VIDEO.is_file()


def test_a_zipped_package_finds_its_models_and_lambda_source_without_the_checkout(tmp_path, data_dir):
    archive = _zip_package(tmp_path / "crowdmood_gui.zip")
    checkout = os.path.realpath(resources.bundled_dir(".").parent)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(archive), checkout, str(data_dir / "single_face.jpg")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["package"].startswith(str(archive))  # imported from the zip, not the checkout
    assert not found["resources"].startswith(checkout)  # extracted from the zip to a temp folder
    assert found["model"].startswith(found["resources"])
    assert found["demo_exists"]
    assert found["faces"] == 1
    assert found["lambda_sha"] == code_sha256(build_lambda_zip())  # same bytes as from the folder
    assert not Path(found["resources"]).exists()  # the extracted copy is removed at exit
