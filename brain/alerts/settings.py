"""The settings note (`Brain/Settings.md`): company alert defaults, read from the vault; and the
alert properties an agent, team or person note may carry (`alerts: off`, `alert_min_usd_per_day`,
`alert_severity`, `notify`).

A problem never stops the brain: a missing note is the defaults, a note whose YAML is broken is
ignored as a whole (one error finding, with the line), and a property that is unknown or invalid
is a warning finding with its line, its default used in its place.
"""

from __future__ import annotations

import builtins
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from yaml.nodes import MappingNode, ScalarNode

from brain.anomaly.config import SEVERITIES, AnomalyConfig
from brain.costs.budgets import budget_findings, property_line
from brain.graph.gaps import Gap
from brain.vault.reader import decode_note_bytes, normalise_value, split_frontmatter
from brain.vault.secrets import mask
from brain.vault.yaml12 import CoreLoader

SETTINGS_NOTE = "Brain/Settings.md"
# Obsidian's own properties, allowed on the settings note as on any note.
OBSIDIAN_PROPERTIES = frozenset({"tags", "tag", "aliases", "alias", "cssclasses", "cssclass"})


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

    def severity_floors(self, company_usd_per_day: float) -> dict:
        """AnomalyConfig overrides for a company spending `company_usd_per_day` (its 30-day mean):
        each floor is the larger of the absolute one and the share of the company's spend, so a
        jump that matters to a small company is not paged in a large one. The ratio rule for
        critical never fires below the warn floor (it would make critical what the floor calls info)."""
        company = max(float(company_usd_per_day or 0.0), 0.0)
        warn = max(self.warn_usd_per_day, self.warn_share_of_company * company)
        critical = max(self.critical_usd_per_day, self.critical_share_of_company * company)
        return {
            "warn_excess_usd_per_day": warn,
            "critical_excess_usd_per_day": critical,
            "critical_ratio": self.critical_ratio,
            "critical_ratio_min_usd_per_day": max(AnomalyConfig.critical_ratio_min_usd_per_day, warn),
        }

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (times as "HH:MM", quiet hours as "HH:MM-HH:MM")."""
        d = asdict(self)
        d["quiet_hours"] = _show_hours(self.quiet_hours) if self.quiet_hours else None
        d["digest_time"] = self.digest_time.strftime("%H:%M")
        d["budget_thresholds"] = list(self.budget_thresholds)
        return d


@dataclass(frozen=True)
class SettingFinding:
    """A problem in the settings note or an alert property of a note, with where it is."""

    path: str
    line: int | None
    property: str | None
    message: str
    severity: str = "warning"  # "error" | "warning"
    kind: str = "invalid_setting"  # the `brain check` gap kind: settings_yaml, unknown_setting, invalid_setting, ...

    @builtins.property  # `property` is a field here
    def text(self) -> str:
        """The finding with its place first: `Brain/Settings.md:7: ...`."""
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class NodeAlertPrefs:
    """The alert properties of one agent, team or person note."""

    off: bool = False
    min_usd_per_day: float | None = None
    min_severity: str | None = None
    notify: str | None = None


# -- values ----------------------------------------------------------------------------------------

class _Bad(ValueError):
    """A property value that cannot be used; the message says what it must be."""


_TIME = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")
_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_OFF = ("off", "none", "no", "false", "")


def _show(value) -> str:
    """A value as a person wrote it, for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, tuple) and value and all(isinstance(v, time) for v in value):
        return _show_hours(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(mask(value)) if _is_url(value) else repr(value)
    return str(value)


def _is_url(text: str) -> bool:
    return "://" in text or text.strip().lower().startswith("mailto:")


def _show_hours(hours: tuple[time, time]) -> str:
    return f"{hours[0].strftime('%H:%M')}-{hours[1].strftime('%H:%M')}"


def _number(value, what: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Bad(f"it must be {what}")
    try:
        x = float(value)
    except ValueError:
        raise _Bad(f"it must be {what}") from None
    if not math.isfinite(x):
        raise _Bad(f"it must be {what}")
    return x


def _floor(value) -> float:
    x = _number(value, "a number >= 0")
    if x < 0:
        raise _Bad("it must be a number >= 0")
    return x


def _share(value) -> float:
    x = _number(value, "a share between 0 and 1 (0.002 is 0.2%)")
    if not 0 <= x <= 1:
        raise _Bad("it must be a share between 0 and 1 (0.002 is 0.2%)")
    return x


def _ratio(value) -> float:
    x = _number(value, "a number >= 1 (actual / expected)")
    if x < 1:
        raise _Bad("it must be a number >= 1 (actual / expected)")
    return x


def _severity(value) -> str:
    s = str(value).strip().lower() if isinstance(value, str) else None
    if s not in SEVERITIES:
        raise _Bad(f"use one of {', '.join(SEVERITIES)}")
    return s


def _clock(value) -> time:
    m = _TIME.match(value) if isinstance(value, str) else None
    if m is None:
        raise _Bad('it must be a time of day such as "09:00"')
    return time(int(m.group(1)), int(m.group(2)))


def _off(value) -> bool:
    return value is None or value is False or (isinstance(value, str) and value.strip().lower() in _OFF)


def _quiet_hours(value) -> tuple[time, time] | None:
    if _off(value):
        return None
    shape = 'it must be a range of hours such as "22:00-07:00" (or off)'
    parts = value.split("-") if isinstance(value, str) else []
    if len(parts) != 2:
        raise _Bad(shape)
    try:
        start, end = _clock(parts[0]), _clock(parts[1])
    except _Bad:
        raise _Bad(shape) from None
    if start == end:
        raise _Bad(f"{shape}; its start and end are the same")
    return start, end


def _timezone(value) -> str:
    name = value.strip() if isinstance(value, str) else ""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1, cutoff=0.6) if name else []
        hint = f"; did you mean {close[0]}?" if close else ""
        raise _Bad(f"it must be an IANA time zone name such as Europe/Paris or UTC{hint}") from None
    return name


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise _Bad("it must be true or false")
    return value


def channel_name(value) -> str:
    """A channel name as a note may hold it (`finops-slack`); raises ValueError with the reason
    when it is not one, and never repeats a URL (a secret) in full."""
    if not isinstance(value, str) or not value.strip():
        raise _Bad("it must be a channel name such as finops-slack")
    name = value.strip()
    if _is_url(name):  # shown masked, as secrets are (`_show`): never the URL in full
        raise _Bad("it looks like a URL; a note names a channel and its URL, a secret, stays outside the "
                   "vault, in BRAIN_CHANNEL_<NAME> or channels.toml")
    if not _CHANNEL.match(name):
        raise _Bad("it must be a channel name: letters, digits, '-', '_' or '.' (such as finops-slack)")
    return name


def _default_channel(value) -> str | None:
    return None if value is None else channel_name(value)


def _every_minutes(value) -> int | None:
    if _off(value):
        return None
    what = "a whole number of minutes >= 1 (or off)"
    x = _number(value, what)
    if x < 1 or not x.is_integer():
        raise _Bad(f"it must be {what}")
    return int(x)


def _thresholds(value) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    what = "a list of shares of the budget above 0, such as [0.8, 1.0]"
    out = []
    for v in items:
        x = _number(v, what)
        if x <= 0:
            raise _Bad(f"it must be {what}")
        out.append(x)
    return tuple(sorted(set(out)))


# property -> parser of its value (raises _Bad); the field of AlertSettings of the same name
_PARSERS: dict[str, Callable] = {
    "warn_usd_per_day": _floor,
    "warn_share_of_company": _share,
    "critical_usd_per_day": _floor,
    "critical_share_of_company": _share,
    "critical_ratio": _ratio,
    "min_severity": _severity,
    "quiet_hours": _quiet_hours,
    "timezone": _timezone,
    "digest": _boolean,
    "digest_time": _clock,
    "default_channel": _default_channel,
    "every_minutes": _every_minutes,
    "budget_thresholds": _thresholds,
}
SETTINGS_PROPERTIES = tuple(_PARSERS)


# -- the settings note -----------------------------------------------------------------------------

def read_alert_settings(vault_root: Path) -> tuple[AlertSettings, list[SettingFinding]]:
    """The company's alert settings from `Brain/Settings.md` of the vault, and what is wrong in it.

    Missing note: the defaults, no finding. Broken YAML: the defaults and one error finding with
    the line. An unknown property (with the closest setting's name), a wrong type, a negative
    floor, an unknown severity, a bad time: a warning finding with its line, and that setting's
    default."""
    path = Path(vault_root) / SETTINGS_NOTE
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return AlertSettings(), []  # no settings note: the defaults
    except OSError as exc:
        return AlertSettings(), [_whole(None, f"cannot read the settings note: {exc.strerror or exc}")]
    text, problem = decode_note_bytes(data)
    if text is None:
        return AlertSettings(), [_whole(None, problem or "unreadable")]
    fm, _, _ = split_frontmatter(text.replace("\r\n", "\n").lstrip("\ufeff"))
    if fm is None or not fm.strip():
        return AlertSettings(), []
    try:
        entries = _entries(fm)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return AlertSettings(), [_whole(line, f"broken YAML ({problem})")]
    if entries is None:
        return AlertSettings(), [_whole(2, "its properties are not a list of `name: value` lines")]
    values: dict = {}
    found: list[SettingFinding] = []
    lines: dict[str, int] = {}
    for key, line, value, error in entries:
        if key in OBSIDIAN_PROPERTIES:
            continue
        if key not in _PARSERS:
            close = difflib.get_close_matches(key.lower(), SETTINGS_PROPERTIES, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "; the settings are listed in the note"
            found.append(SettingFinding(SETTINGS_NOTE, line, key, f"{key} is not a setting{hint} (ignored)",
                                        "warning", "unknown_setting"))
            continue
        default = getattr(AlertSettings, key)
        if key in lines:
            found.append(SettingFinding(SETTINGS_NOTE, line, key, f"{key} is set twice (lines {lines[key]} and "
                                        f"{line}); the last one is used", "warning", "invalid_setting"))
        lines[key] = line
        values.pop(key, None)
        if error is not None:
            found.append(_invalid(key, line, f"{key} cannot be read ({error})", default))
            continue
        try:
            values[key] = _PARSERS[key](value)
        except _Bad as bad:
            found.append(_invalid(key, line, f"{key} is {_show(value)}; {bad}", default))
    return AlertSettings(**values), found


def _whole(line: int | None, problem: str) -> SettingFinding:
    return SettingFinding(SETTINGS_NOTE, line, None,
                          f"{problem}: the settings note is ignored, every alert setting is at its default",
                          "error", "settings_yaml")


def _invalid(key: str, line: int, message: str, default) -> SettingFinding:
    using = "left unset" if default is None else f"using {default if isinstance(default, str) else _show(default)}"
    return SettingFinding(SETTINGS_NOTE, line, key, f"{message} ({using})", "warning", "invalid_setting")


def _entries(fm: str) -> list[tuple[str, int, object, str | None]] | None:
    """(key, 1-based file line, value, construction problem) per top-level property, in order;
    None when the frontmatter is not a mapping. Raises yaml.YAMLError for YAML that does not parse."""
    loader = CoreLoader(fm)
    try:
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, MappingNode):
            return None
        out: list[tuple[str, int, object, str | None]] = []
        for key, value in node.value:
            line = key.start_mark.line + 2  # +1 for the '---' line, +1 for 1-based
            name = str(key.value).strip() if isinstance(key, ScalarNode) else str(key.start_mark)
            try:
                out.append((name, line, normalise_value(loader.construct_object(value, deep=True)), None))
            except yaml.YAMLError as exc:
                out.append((name, line, None, getattr(exc, "problem", None) or str(exc).splitlines()[0]))
        return out
    finally:
        loader.dispose()


# -- per-note alert properties ---------------------------------------------------------------------

NODE_PROPERTIES = ("alerts", "alert_min_usd_per_day", "alert_severity", "notify")


def node_prefs(properties: dict) -> tuple[NodeAlertPrefs, list[str]]:
    """The alert properties of an agent, team or person note, and a message per problem (the
    property is then as if unset)."""
    prefs, problems = node_prefs_by_property(properties)
    return prefs, [message for _, message in problems]


def node_prefs_by_property(properties: dict) -> tuple[NodeAlertPrefs, list[tuple[str, str]]]:
    """`node_prefs` with each problem's property: (property, message)."""
    props = properties or {}
    values: dict = {}
    problems: list[tuple[str, str]] = []

    def read(key: str, field: str, parse: Callable, unset: str) -> None:
        if key not in props or props[key] is None:
            return
        try:
            values[field] = parse(props[key])
        except _Bad as bad:
            problems.append((key, f"{key} is {_show(props[key])}; {bad} ({unset})"))

    read("alerts", "off", _alerts_off, "alerts stay on")
    read("alert_min_usd_per_day", "min_usd_per_day", _floor, "using the company's floors")
    read("alert_severity", "min_severity", _severity, "using the company's min_severity")
    read("notify", "notify", channel_name, "alerts go to the owner's team or the default channel")
    known = set(NODE_PROPERTIES)
    for key in props:
        low = str(key).lower()
        if low.startswith("alert") and key not in known:
            close = difflib.get_close_matches(low, NODE_PROPERTIES, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else f"; the alert properties are {', '.join(NODE_PROPERTIES)}"
            problems.append((key, f"{key} is not an alert property{hint} (ignored)"))
    return NodeAlertPrefs(**values), problems


def _alerts_off(value) -> bool:
    if value is True or (isinstance(value, str) and value.strip().lower() in ("on", "true", "yes")):
        return False
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "false", "no")):
        return True
    raise _Bad("it must be off or on")


# -- as `brain check` gaps -------------------------------------------------------------------------

def with_alert_gaps(gaps: list[Gap], graph, findings: list[SettingFinding]) -> list[Gap]:
    """`gaps` (the graph's) plus the alert ones, each message starting with its file and line: the
    settings note's `findings` (in place of the note's plain broken-YAML gap, which they repeat
    with what it means), budgets that are not used, and alert properties of agent, team and person
    notes that are not."""
    if any(f.kind == "settings_yaml" for f in findings):
        gaps = [g for g in gaps if not (g.node == SETTINGS_NOTE and g.kind == "broken_yaml")]
    out = list(gaps)
    out += [Gap(f.kind, f.severity, SETTINGS_NOTE[:-3], f.text, f.line) for f in findings]
    out += [Gap("invalid_budget", "warning", nid, message) for nid, message in budget_findings(graph)]
    for kind in ("agent", "team", "person"):
        for nid in graph.nodes_of_type(kind):
            note = graph.notes.get(nid)
            for key, message in node_prefs_by_property(note.properties)[1] if note is not None else ():
                line = property_line(graph.root, note.path, key)
                where = f"{note.path}:{line}" if line else note.path
                out.append(Gap("invalid_alert_property", "warning", nid, f"{where}: {message}", line))
    return out
