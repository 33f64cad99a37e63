"""AWS console tests: reuse the Lambda's handler and the shared moto/Stubber helpers."""

from __future__ import annotations

import sys
from pathlib import Path

from crowdmood_gui.core.resources import LAMBDA_SOURCE, bundled_dir

TESTS = Path(__file__).parents[2]
for _path in (str(bundled_dir(LAMBDA_SOURCE)), str(TESTS / "lambda")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
