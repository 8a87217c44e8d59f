"""The application's clock. Services ask ``clock.now()``; tests move time with ``set_clock``
(SLA deadlines, reminders) without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from telebridge.kit.db import utcnow

_now: Callable[[], datetime] = utcnow


def now() -> datetime:
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (None restores the real one)."""
    global _now
    _now = fn or utcnow
