"""Lambda tests: the handler's modules import each other flat, as in the zip (``lambda`` is a
keyword, and the folder is no package), so put ``crowdmood_gui/lambda_function/`` on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

from crowdmood_gui.core.resources import LAMBDA_SOURCE, bundled_dir

HERE = Path(__file__).parent
LAMBDA_DIR = bundled_dir(LAMBDA_SOURCE)
for _path in (str(LAMBDA_DIR), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
