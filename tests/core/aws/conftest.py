"""AWS console tests: reuse the Lambda's handler and the shared moto/Stubber helpers."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).parents[3]
for _path in (str(ROOT / "crowdmood_gui" / "lambda_function"), str(ROOT / "tests" / "lambda")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
