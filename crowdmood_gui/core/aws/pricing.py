"""What the AWS side costs per hour at a sampling rate: a pure function, no AWS call.

Prices are us-east-1 list prices (field notes §2); other regions differ by a few percent.
The console uploads at most one crop per tracked face every ``interval_s`` seconds, and
never more than the hourly budget pays for.
"""

from __future__ import annotations

from dataclasses import dataclass

from crowdmood_gui.core.emotions import EMOTIONS

HOURS_PER_MONTH = 730.0
PRICE_REKOGNITION_IMAGE = 0.001  # DetectFaces, first 1 M images / month
PRICE_METRIC_MONTH = 0.30  # per custom metric (each name x dimension set) per month
PRICE_PUT_METRIC_REQUEST = 0.01 / 1000  # PutMetricData API requests
PRICE_GET_METRIC_DATA_METRIC = 0.01 / 1000  # per metric requested by GetMetricData
PRICE_DDB_WRITE = 0.625 / 1_000_000  # on-demand write request unit
PRICE_DDB_READ = 0.125 / 1_000_000  # on-demand read request unit
PRICE_S3_PUT = 0.005 / 1000
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_MEMORY_GB = 0.25
LAMBDA_SECONDS_PER_IMAGE = 0.6  # S3 head + DetectFaces + PutItem + PutMetricData
METRICS_PER_DIMENSION_SET = len(EMOTIONS) + 1  # eight expressions + Faces
DIMENSION_SETS_PER_BOOTH = 3  # Session+Camera, Session, all booths (records.metric_dimension_sets)


@dataclass(frozen=True)
class CostEstimate:
    images_per_hour: float
    capped_by_budget: bool
    lines: tuple[tuple[str, float], ...]  # (what, USD per hour)

    @property
    def total(self) -> float:
        return sum(cost for _, cost in self.lines)

    def describe(self) -> str:
        rows = [f"{self.images_per_hour:,.0f} images/hour" + (" (capped by the hourly budget)" if self.capped_by_budget else "")]
        rows += [f"  {what}: ${cost:.4f}/h" for what, cost in self.lines]
        rows.append(f"  total: about ${self.total:.3f} per hour")
        return "\n".join(rows)


def images_per_hour(tracks: float, interval_s: float, budget_usd_per_hour: float | None = None,
                    price_per_image: float = PRICE_REKOGNITION_IMAGE) -> tuple[float, bool]:
    """Crops per hour at ``tracks`` simultaneous faces, one per track per interval, budget-capped."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    wanted = max(0.0, tracks) * 3600.0 / interval_s
    if budget_usd_per_hour is not None and price_per_image > 0:
        cap = budget_usd_per_hour / price_per_image
        if wanted > cap:
            return cap, True
    return wanted, False


def estimate_cost_per_hour(
    *,
    tracks: float = 5,
    interval_s: float = 2.0,
    budget_usd_per_hour: float | None = 1.0,
    poll_interval_s: float = 5.0,
    booths: int = 1,
    price_per_image: float = PRICE_REKOGNITION_IMAGE,
) -> CostEstimate:
    images, capped = images_per_hour(tracks, interval_s, budget_usd_per_hour, price_per_image)
    # Dimension sets: all booths, plus Session and Session+Camera per booth (3 for one booth).
    metrics = METRICS_PER_DIMENSION_SET * (1 + (DIMENSION_SETS_PER_BOOTH - 1) * max(1, booths))
    polls_per_hour = 3600.0 / poll_interval_s if poll_interval_s > 0 else 0.0
    lines = (
        ("Rekognition DetectFaces", images * price_per_image),
        ("CloudWatch custom metrics", metrics * PRICE_METRIC_MONTH / HOURS_PER_MONTH),
        ("CloudWatch PutMetricData", images * PRICE_PUT_METRIC_REQUEST),
        ("CloudWatch GetMetricData polling", polls_per_hour * METRICS_PER_DIMENSION_SET * PRICE_GET_METRIC_DATA_METRIC),
        ("DynamoDB on-demand writes", images * PRICE_DDB_WRITE),
        ("DynamoDB queries", polls_per_hour * PRICE_DDB_READ),
        ("S3 PUT requests", images * PRICE_S3_PUT),
        ("Lambda", images * (PRICE_LAMBDA_REQUEST + LAMBDA_SECONDS_PER_IMAGE * LAMBDA_MEMORY_GB * PRICE_LAMBDA_GB_SECOND)),
        # Only events that failed every retry are sent there: far inside the SQS free tier
        # (1 M requests a month), so $0 at this volume.
        ("SQS failure queue (free tier)", 0.0),
    )
    return CostEstimate(images_per_hour=images, capped_by_budget=capped, lines=lines)
