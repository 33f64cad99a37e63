"""The Rekognition cost budget: dollars per hour -> which track may send a crop now.

A token bucket in images: capacity ``burst`` and refill ``(N - burst) / 3600`` per second,
where ``N = budget_usd_per_hour / price_per_image_usd``. Any sliding hour therefore holds at
most ``burst + (N - burst) = N`` images: the budget is a hard ceiling, not an average.

Fairness, on top of the bucket:

* a track never analysed (``analysed_before`` False and not granted here yet) may use every
  token; a track already analysed may not dip into the ``reserve`` share of the bucket,
  which is kept for newcomers, so a person who just walked in is analysed quickly;
* an analysed track waits at least ``active_tracks / rate`` seconds between grants (its
  fair share of the rate), so with twenty people each gets about a twentieth of the budget,
  and with two people each can be analysed as often as the sampler asks.

Times are seconds on one monotonic clock chosen by the caller. Thread-safe.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class BudgetStats:
    budget_usd_per_hour: float
    images_per_hour: float  # the ceiling (inf: no limit)
    images: int  # crops charged so far
    spent_usd: float
    projected_usd_per_hour: float  # from the recent rate
    tokens: float
    active_tracks: int
    denied: int  # wants_sample answered no


class CostBudget:
    def __init__(
        self,
        budget_usd_per_hour: float = 1.0,
        price_per_image_usd: float = 0.001,
        *,
        burst_fraction: float = 0.02,
        reserve_fraction: float = 0.3,
        active_window_s: float = 10.0,
        grant_ttl_s: float = 30.0,
        projection_window_s: float = 300.0,
        now: float = 0.0,
    ) -> None:
        if budget_usd_per_hour < 0 or price_per_image_usd < 0:
            raise ValueError("budget and price must be >= 0")
        self.budget_usd_per_hour = budget_usd_per_hour
        self.price = price_per_image_usd
        if price_per_image_usd == 0:
            self.images_per_hour = math.inf
        else:
            self.images_per_hour = math.floor(budget_usd_per_hour / price_per_image_usd + 1e-9)
        n = self.images_per_hour
        self.burst = 0.0 if n == 0 else (math.inf if math.isinf(n) else max(1.0, math.floor(n * burst_fraction)))
        self.rate = math.inf if math.isinf(n) else max(0.0, n - self.burst) / SECONDS_PER_HOUR  # images/s
        self.reserve = 0.0 if math.isinf(n) else min(self.burst - 1.0, self.burst * reserve_fraction) if self.burst >= 1 else 0.0
        self.active_window_s = active_window_s
        self.grant_ttl_s = grant_ttl_s
        self.projection_window_s = projection_window_s
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = now
        self._started = now
        self._last_ask: dict[int, float] = {}
        self._last_grant: dict[int, float] = {}
        self._granted: dict[int, list[float]] = {}  # grants not yet charged (a crop being cut)
        self._charges: deque[float] = deque()
        self.images = 0
        self.denied = 0

    # --- the gate -------------------------------------------------------------------

    def wants_sample(self, track_id: int, now: float, analysed_before: bool = False) -> bool:
        if math.isinf(self.images_per_hour):
            return True
        with self._lock:
            self._refill(now)
            self._last_ask[track_id] = now
            self._prune(now)
            known = analysed_before or track_id in self._last_grant
            if not known:
                allowed = self._tokens >= 1.0
            else:
                fair_gap = len(self._last_ask) / self.rate if self.rate > 0 else math.inf
                waited = now - self._last_grant.get(track_id, -math.inf)
                allowed = self._tokens >= 1.0 + self.reserve and waited >= fair_gap
            if not allowed:
                self.denied += 1
                return False
            self._tokens -= 1.0
            self._last_grant[track_id] = now
            self._granted.setdefault(track_id, []).append(now)
            return True

    def charge(self, track_id: int | None, now: float) -> bool:
        """A crop is about to be uploaded: count its cost. Uses the track's grant when it has
        one; a crop that bypassed :meth:`wants_sample` must find a token, else it is refused."""
        with self._lock:
            self._refill(now)
            grants = self._granted.get(track_id) if track_id is not None else None
            if grants:
                grants.pop(0)
                if not grants:
                    del self._granted[track_id]
            elif math.isinf(self.images_per_hour):
                pass
            elif self._tokens >= 1.0:
                self._tokens -= 1.0
            else:
                self.denied += 1
                return False
            self.images += 1
            self._charges.append(now)
            return True

    def refund(self, now: float) -> None:
        """A charged crop could not be queued (disk full...): it will not be billed. The
        token is not given back (the budget errs on the side of spending less)."""
        with self._lock:
            if self.images > 0:
                self.images -= 1
                if self._charges:
                    self._charges.pop()

    # --- bookkeeping ----------------------------------------------------------------

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = max(self._updated, now)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    def _prune(self, now: float) -> None:
        for track, seen in list(self._last_ask.items()):
            if now - seen > self.active_window_s:
                del self._last_ask[track]
        for track, grants in list(self._granted.items()):
            kept = [t for t in grants if now - t <= self.grant_ttl_s]  # crop never cut: token lost
            if kept:
                self._granted[track] = kept
            else:
                del self._granted[track]
        for track, granted_at in list(self._last_grant.items()):
            if now - granted_at > SECONDS_PER_HOUR and track not in self._last_ask:
                del self._last_grant[track]  # a person long gone: forget them
        horizon = now - max(self.projection_window_s, SECONDS_PER_HOUR)
        while self._charges and self._charges[0] < horizon:
            self._charges.popleft()

    def stats(self, now: float) -> BudgetStats:
        with self._lock:
            self._refill(now)
            self._prune(now)
            window = min(self.projection_window_s, max(now - self._started, 60.0))
            recent = sum(1 for t in self._charges if t >= now - window)
            projected = recent * self.price * SECONDS_PER_HOUR / window
            return BudgetStats(
                budget_usd_per_hour=self.budget_usd_per_hour,
                images_per_hour=self.images_per_hour,
                images=self.images,
                spent_usd=self.images * self.price,
                projected_usd_per_hour=projected,
                tokens=self._tokens,
                active_tracks=len(self._last_ask),
                denied=self.denied,
            )
