"""Architecture rules, checked rather than hoped for."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- import-linter contracts ([tool.importlinter] in pyproject.toml) ---------------------------

ROOT = CORE.parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # lint-imports puts its working directory first on sys.path: it reads the tree found there.
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True)


def test_import_contracts_hold():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 4 kept, 0 broken." in out.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("core/series.py", "import crowdmood_gui.ui.chart", "core is Qt-free and imports neither ui nor commands"),
        ("core/series.py", "import PySide6.QtCore", "core is Qt-free and imports neither ui nor commands"),
        ("ui/about.py", "import crowdmood_gui.commands.sessions", "ui does not import commands"),
        ("commands/booths.py", "import crowdmood_gui.cli", "Layers: cli -> commands -> ui -> core"),
        ("lambda_function/s3_event.py", "import crowdmood_gui.core.config", "The Lambda imports nothing of the app"),
    ],
)
def test_a_broken_contract_fails(tmp_path, module, bad_import, contract):
    # A copy of the package with one import the contracts forbid: lint-imports must fail on it.
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "crowdmood_gui", tmp_path / "crowdmood_gui",
                    ignore=shutil.ignore_patterns("resources", "__pycache__"))
    target = tmp_path / "crowdmood_gui" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{bad_import}\n", encoding="utf-8")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    broken = out.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, out.stdout


def test_the_lambda_zip_holds_every_app_module_the_handler_imports():
    # The contract lets the handler import core.records; what records imports in turn must be
    # zipped beside it (lambda_zip.SHARED_MODULES), or the function fails on its first event.
    import grimp

    from crowdmood_gui.core.aws.lambda_zip import SHARED_MODULES

    graph = grimp.build_graph("crowdmood_gui", "crowdmood_gui.lambda_function")
    app_imports: set[str] = set()
    for module in graph.modules:
        if module.startswith("crowdmood_gui.lambda_function."):
            app_imports |= graph.find_upstream_modules(module)  # everything it imports, even indirectly
    app_imports = {m for m in app_imports if not m.startswith("crowdmood_gui.lambda_function")}
    zipped = {name.removesuffix(".py").replace("/", ".") for name in SHARED_MODULES}
    zipped = {name.removesuffix(".__init__") for name in zipped}
    assert app_imports, "the handler imports the shared record module"
    assert app_imports <= zipped, f"imported by the Lambda but not zipped: {sorted(app_imports - zipped)}"
