"""Lambda tests: ``lambda/`` is not a package (``lambda`` is a keyword), so put it on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
LAMBDA_DIR = HERE.parents[1] / "lambda"
for _path in (str(LAMBDA_DIR), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
