"""Where the bundled data files are: inside the installed package, found with importlib.resources.

The models, the demo video, the icon, the dashboard template, the set-up's test face
(``crowdmood_gui/resources/``) and the Lambda's source (``crowdmood_gui/lambda_function/``)
ship in the wheel. Everything that needs one of them goes through this module, never through
a path into a git checkout, so a ``pip install``/``pipx install`` of the wheel, an editable
checkout and a PyInstaller bundle all find the same files.

onnxruntime and OpenCV need real file paths: when the package is imported from a folder (the
usual case) these are the package's own files; when it is imported from a zip, the folder is
extracted once to a temporary directory that is removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE = "crowdmood_gui"
RESOURCES = "resources"  # data: models, demo, icons, dashboard, test_face.jpg
LAMBDA_SOURCE = "lambda_function"  # the Lambda's handler and its flat modules (``lambda`` is a keyword)

_extracted: dict[str, Path] = {}


def package_files() -> Traversable:
    """The installed ``crowdmood_gui`` package as importlib.resources sees it (folder or zip)."""
    return files(PACKAGE)


def _copy_tree(node: Traversable, dest: Path) -> None:
    if node.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        for child in node.iterdir():
            _copy_tree(child, dest / child.name)
    elif node.is_file():
        dest.write_bytes(node.read_bytes())


def bundled_dir(name: str) -> Path:
    """A real folder with the package's data folder ``name`` (e.g. ``"resources"``)."""
    node = package_files() / name
    if isinstance(node, Path):  # imported from a folder: the package's own files
        return node
    if name not in _extracted:  # imported from a zip (importlib.resources.as_file does no folders on 3.11)
        target = Path(tempfile.mkdtemp(prefix=f"crowdmood-{name}-"))
        atexit.register(shutil.rmtree, target, ignore_errors=True)
        _copy_tree(node, target)
        _extracted[name] = target
    return _extracted[name]


RESOURCES_DIR = bundled_dir(RESOURCES)
MODELS_DIR = RESOURCES_DIR / "models"
DEMO_VIDEO = RESOURCES_DIR / "demo" / "demo.mp4"
