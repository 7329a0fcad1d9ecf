"""Spot price history by zone and instance type (EC2 DescribeSpotPriceHistory), saved as JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path


def spot_history(ec2, instance_types: list[str], start: datetime, end: datetime,
                 product: str = "Linux/UNIX") -> list[dict]:
    rows = []
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=instance_types, ProductDescriptions=[product], StartTime=start, EndTime=end)
    for page in pages:
        rows += [{"instance_type": p["InstanceType"], "zone": p["AvailabilityZone"], "price": float(p["SpotPrice"]),
                  "timestamp": p["Timestamp"].isoformat()} for p in page["SpotPriceHistory"]]
    return rows


def save(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1))
    return path


def window(days: float, now: datetime) -> tuple[datetime, datetime]:
    if not 0 < days <= 90:
        raise ValueError("EC2 keeps 90 days of spot price history; choose 0 < days <= 90")
    return now - timedelta(days=days), now
