"""The settings note (`Brain/Settings.md`): company alert defaults, read from the vault; and the
alert properties an agent, team or person note may carry (`alerts: off`, `alert_min_usd_per_day`,
`alert_severity`, `notify`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

SETTINGS_NOTE = "Brain/Settings.md"


@dataclass(frozen=True)
class AlertSettings:
    """Company alert defaults; every field has the value used when the note does not set it."""

    warn_usd_per_day: float = 10.0  # absolute floor of an anomaly's excess $/day for warn
    warn_share_of_company: float = 0.002  # relative floor: share of the company's $/day (30-day mean)
    critical_usd_per_day: float = 200.0
    critical_share_of_company: float = 0.02
    critical_ratio: float = 5.0  # actual / expected at or above this (with the critical ratio floor): critical
    min_severity: str = "warn"  # the lowest severity that is sent
    quiet_hours: tuple[time, time] | None = None  # only critical messages go out between these
    timezone: str = "UTC"  # of quiet_hours and digest_time (an IANA zone name)
    digest: bool = False  # one daily message per recipient; non-critical alerts wait for it
    digest_time: time = time(9, 0)
    default_channel: str | None = None
    every_minutes: int | None = None  # `brain serve` and `brain collect` run a pass this often; None: off
    budget_thresholds: tuple[float, ...] = (0.8, 1.0)


@dataclass(frozen=True)
class SettingFinding:
    """A problem in the settings note or an alert property of a note, with where it is."""

    path: str
    line: int | None
    property: str | None
    message: str
    severity: str = "warning"  # "error" | "warning"


@dataclass(frozen=True)
class NodeAlertPrefs:
    """The alert properties of one agent, team or person note."""

    off: bool = False
    min_usd_per_day: float | None = None
    min_severity: str | None = None
    notify: str | None = None
