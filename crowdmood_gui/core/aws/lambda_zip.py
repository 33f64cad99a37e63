"""The Lambda deployment package, built from the installed package, byte-for-byte reproducible.

The handler's folder (``crowdmood_gui/lambda_function/``) and the shared record logic are read
through importlib.resources, so ``crowdmood setup`` works from a wheel install as from a checkout.

Fixed timestamps, fixed permissions and sorted entries: the same sources always give the
same ``CodeSha256``, so re-running setup skips an unchanged code update.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from importlib.resources.abc import Traversable

from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.resources import LAMBDA_SOURCE, PACKAGE, package_files

# The shared record logic the handler imports (stdlib only), as named in the zip.
SHARED_MODULES = (
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/core/__init__.py",
    f"{PACKAGE}/core/records.py",
    f"{PACKAGE}/core/emotions.py",
)
HANDLER = "handler.lambda_handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def lambda_sources(package_dir: Traversable | None = None) -> list[tuple[str, Traversable]]:
    """(name in the zip, source file), sorted by name. ``package_dir``: the ``crowdmood_gui``
    folder to read from (default: the installed package)."""
    package_dir = package_files() if package_dir is None else package_dir
    lambda_dir = package_dir / LAMBDA_SOURCE
    handler = lambda_dir / "handler.py"
    if not handler.is_file():
        raise CrowdMoodError(f"the Lambda source {handler} is missing: cannot build the function package")
    entries = [(p.name, p) for p in lambda_dir.iterdir() if p.name.endswith(".py") and p.is_file()]
    entries += [(rel, package_dir.joinpath(*rel.split("/")[1:])) for rel in SHARED_MODULES]
    missing = [str(path) for _, path in entries if not path.is_file()]
    if missing:
        raise CrowdMoodError(f"Lambda package: missing source file(s): {', '.join(missing)}")
    return sorted(entries, key=lambda entry: entry[0])


def build_lambda_zip(package_dir: Traversable | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in lambda_sources(package_dir):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the building machine
            archive.writestr(info, path.read_bytes().replace(b"\r\n", b"\n"))
    return buf.getvalue()


def code_sha256(package: bytes) -> str:
    """As Lambda reports it: base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode("ascii")
