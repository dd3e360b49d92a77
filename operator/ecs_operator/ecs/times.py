"""Timestamps as Kubernetes writes them (RFC 3339, UTC, to the second: '2026-11-25T12:00:00Z'),
and back: the one place records, events and answers format and parse them."""

from __future__ import annotations

import datetime
from typing import Any

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(moment: datetime.datetime | float) -> str:
    """A datetime (or epoch seconds) as Kubernetes writes times."""
    if not isinstance(moment, datetime.datetime):
        moment = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime(RFC3339)


def now() -> str:
    return rfc3339(datetime.datetime.now(datetime.UTC))


def parse(value: Any) -> datetime.datetime | None:
    """An RFC 3339 string ('…Z' or with an offset) → an aware datetime; None for none or garbage."""
    if isinstance(value, datetime.datetime) or value is None:
        return value
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def epoch(value: Any) -> float | None:
    """An RFC 3339 string → epoch seconds; None for none or garbage."""
    moment = parse(value) if value else None
    return moment.timestamp() if moment is not None else None
