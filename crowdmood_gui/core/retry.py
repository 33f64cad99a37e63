"""The one back-off policy: how long to wait before trying again after failures in a row.

Capped exponential back-off with jitter: the ``n``-th failure in a row waits
``min(cap_s, base_s * 2**(n - 1))`` times a random factor in ``[1 - jitter, 1]``. ``jitter=1``
is AWS's "full jitter" (the S3 uploader); a smaller one keeps the waits near the exponential
while still spreading many booths that lost the same recorder or region (capture, the chart
poller). The wait never exceeds the cap, so a configured maximum is a maximum.
"""

from __future__ import annotations

import random
from typing import Callable


def backoff_delay(failures: int, *, base_s: float = 0.5, cap_s: float = 60.0, jitter: float = 1.0,
                  rng: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after ``failures`` failures in a row (0 after none). ``rng(a, b)``: a
    random number in ``[a, b]`` (tests pass a fixed one)."""
    if failures <= 0:
        return 0.0
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be between 0 and 1, not {jitter}")
    exponential = min(cap_s, base_s * 2.0 ** min(failures - 1, 60))
    return exponential * rng(1.0 - jitter, 1.0)
