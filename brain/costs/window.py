"""Spend windows: whole UTC days [start, end) seen at `now`, and the quarter a day falls in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from brain.errors import BrainError


@dataclass(frozen=True)
class Window:
    """A spend window [start, end) of whole UTC days, as seen at `now`."""

    start: datetime
    end: datetime
    now: datetime

    @property
    def days(self) -> int:
        """Calendar days in the window."""
        return (self.end - self.start).days

    @property
    def elapsed_days(self) -> float:
        """Days of the window that have already happened (today counts by the hour)."""
        return max((min(self.now, self.end) - self.start).total_seconds() / 86400, 1 / 24)


def midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def _as_day(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BrainError(f"not a date: {value!r} (use YYYY-MM-DD or an ISO 8601 time)") from exc
    return when.astimezone(UTC).date() if when.tzinfo else when.date()


def make_window(
    days: int | None = 30,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
    now: datetime | None = None,
) -> Window:
    """The window for `days` ending today, or `since`..`until` (both inclusive days)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end = midnight(_as_day(until) + timedelta(days=1)) if until else midnight(now.date() + timedelta(days=1))
    if since:
        start = midnight(_as_day(since))
    else:
        if days is None or days < 1:
            raise BrainError("days must be at least 1")
        start = end - timedelta(days=days)
    if start >= end:
        raise BrainError("since must be before until")
    return Window(start, end, now)


def quarter_bounds(d: date) -> tuple[datetime, datetime]:
    q0 = date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    q1 = date(q0.year + (q0.month + 3 > 12), (q0.month + 3 - 1) % 12 + 1, 1)
    return midnight(q0), midnight(q1)
