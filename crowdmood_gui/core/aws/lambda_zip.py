"""The Lambda deployment package, built from the source tree, byte-for-byte reproducible.

Fixed timestamps, fixed permissions and sorted entries: the same sources always give the
same ``CodeSha256``, so re-running setup skips an unchanged code update.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

from crowdmood_gui.core.config import PACKAGE_ROOT
from crowdmood_gui.core.errors import CrowdMoodError

LAMBDA_DIR = "crowdmood_gui/lambda_function"
# The shared record logic the handler imports (stdlib only).
SHARED_MODULES = (
    "crowdmood_gui/__init__.py",
    "crowdmood_gui/core/__init__.py",
    "crowdmood_gui/core/records.py",
    "crowdmood_gui/core/emotions.py",
)
HANDLER = "handler.lambda_handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def lambda_sources(root: Path = PACKAGE_ROOT) -> list[tuple[str, Path]]:
    """(name in the zip, file on disk), sorted by name."""
    lambda_dir = root / LAMBDA_DIR
    handler = lambda_dir / "handler.py"
    if not handler.is_file():
        raise CrowdMoodError(f"the Lambda source {handler} is missing: cannot build the function package")
    entries = [(p.name, p) for p in lambda_dir.glob("*.py") if p.is_file()]
    entries += [(rel, root / rel) for rel in SHARED_MODULES]
    missing = [str(path) for _, path in entries if not path.is_file()]
    if missing:
        raise CrowdMoodError(f"Lambda package: missing source file(s): {', '.join(missing)}")
    return sorted(entries)


def build_lambda_zip(root: Path = PACKAGE_ROOT) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in lambda_sources(root):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the building machine
            archive.writestr(info, path.read_bytes().replace(b"\r\n", b"\n"))
    return buf.getvalue()


def code_sha256(package: bytes) -> str:
    """As Lambda reports it: base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode("ascii")
