"""Shared CLI helpers: common options, settings, JSON and table output."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from brain.errors import VaultError
from brain.settings import Settings

# Day counts and dates an argument may carry: windows back to the 18th century ("all of it"), days
# from 1970 to 2999. Anything past these is a typo, and would overflow Python's dates in window
# arithmetic (a spend window also reads the equal period before it).
MAX_DAYS = 100_000
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def add_common(parser: argparse.ArgumentParser, json_flag: bool = True, store: bool = False) -> None:
    """Add --vault (env BRAIN_VAULT), optionally --store (env BRAIN_STORE) and --json."""
    parser.add_argument("--vault", help="vault folder (default: $BRAIN_VAULT or the current folder)")
    if store:
        parser.add_argument(
            "--store", help="usage store file (default: $BRAIN_STORE or <vault>/.brain/usage.duckdb)"
        )
        parser.add_argument(
            "--rollups", metavar="ROLLUPS",
            help="read usage from this rollups folder (`brain rollup --out`) instead of the store (default: $BRAIN_ROLLUPS)",
        )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _in_range(day: date, text: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"date out of range: {text!r} (use a day from {FIRST_DAY} to {LAST_DAY})")


def parse_now(text: str) -> datetime:
    """An ISO 8601 time argument (`Z` or an offset; naive = UTC) as an aware UTC datetime."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    _in_range(when.date(), text)
    return when


def parse_day(text: str) -> date:
    """A day argument: YYYY-MM-DD, or an ISO 8601 time (an offset is converted to UTC, naive = UTC)
    standing for its UTC day; within FIRST_DAY..LAST_DAY. Anything else is an error, never cut short."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
        else:
            when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            day = when.astimezone(UTC).date() if when.tzinfo else when.date()
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(
            f"not a date: {text!r} (use YYYY-MM-DD or an ISO 8601 time such as 2026-11-28T23:00:00-05:00)"
        ) from exc
    _in_range(day, text)
    return day


def add_window(p: argparse.ArgumentParser, days: int = 30) -> None:
    """--days N (ending today), or --since/--until: whole UTC days, both inclusive."""
    p.add_argument("--days", type=day_count(), default=days, help=f"days back, today included (default: {days})")
    p.add_argument("--since", type=parse_day,
                   help="first day (YYYY-MM-DD, or an ISO 8601 time: its UTC day); overrides --days")
    p.add_argument("--until", type=parse_day,
                   help="last day, inclusive (YYYY-MM-DD or an ISO 8601 time: its UTC day; default: today)")


def day_count(most: int = MAX_DAYS) -> Callable[[str], int]:
    """An argparse type for a --days option: a whole number from 1 to `most`."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = 0
        if not 1 <= n <= most:
            raise argparse.ArgumentTypeError(f"must be a whole number of days between 1 and {most:,} (got {text!r})")
        return n

    parse.__name__ = "days"  # argparse names the type in its messages
    return parse


def settings_from(args: argparse.Namespace, vault: bool = True) -> Settings:
    """Settings from parsed arguments and the environment; a vault folder that is missing, or is
    no vault (Settings.vault_problem), is an error here, before any command reports what it lacks
    inside it (its usage store, its notes). `vault=False`: a command that reads only the store."""
    settings = Settings.from_env(getattr(args, "vault", None), getattr(args, "store", None), getattr(args, "rollups", None))
    if not settings.vault.is_dir():
        raise VaultError(f"vault folder {str(settings.vault)!r} does not exist or is not a folder")
    if vault:
        explicit = bool(getattr(args, "vault", None) or os.environ.get("BRAIN_VAULT"))
        problem = settings.vault_problem(explicit)
        if problem:
            raise VaultError(problem)
    if settings.rollups is not None:  # the brain reads the folder's rollups (docs/lake.md)
        if getattr(args, "command", None) in USAGE_WRITERS and not getattr(args, "lake", None):
            raise VaultError(f"--rollups (or BRAIN_ROLLUPS) is for reading; `brain {args.command}` writes usage: "
                             "send it to the event lake (`brain lake write`, `brain collect --lake`)")
        from brain.lake.catalog import attach_rollups

        attach_rollups(settings)
    return settings


# Commands that write usage into the store: a rollups folder is read-only to the brain.
USAGE_WRITERS = ("ingest", "collect")


def store_given(args: argparse.Namespace) -> bool:
    """Whether the usage store was named (--store, BRAIN_STORE): a command that reads only the store
    then needs no vault around it."""
    return bool(getattr(args, "store", None) or os.environ.get("BRAIN_STORE"))


def notes_line(notes: int, templates: int) -> str:
    """'49 notes (7 of them templates)': every note of the vault, the templates folder's included."""
    return f"{notes:,} notes" + (f" ({templates:,} of them templates)" if templates else "")


def print_json(data: Any) -> None:
    """Print data as indented JSON on stdout."""
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def terminal_width() -> int | None:
    """The terminal's width when standard output is one; None when piped or captured (full width)."""
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size().columns


_MIN_TEXT_WIDTH = 12  # a text column is not cut below this (or its header)


def fit_widths(widths: list[int], shrinkable: list[bool], total: int) -> list[int]:
    """Column widths that fit `total` characters (two spaces between columns): the widest text
    columns give way first, none below its floor; the widths as they were when nothing can give."""
    out = list(widths)
    floors = [min(w, _MIN_TEXT_WIDTH) if s else w for w, s in zip(widths, shrinkable, strict=True)]
    excess = sum(out) + 2 * (len(out) - 1) - total
    while excess > 0:
        room = [i for i, w in enumerate(out) if w > floors[i]]
        if not room:
            break
        widest = max(room, key=lambda i: out[i])
        others = [out[i] for i in room if i != widest]
        step = min(excess, out[widest] - max(floors[widest], max(others, default=0)) or 1)
        out[widest] -= step
        excess -= step
    return out


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def print_table(rows: list[dict], columns: list[tuple[str, str]], width: int | None = None) -> None:
    """Print rows as an aligned text table; columns are (key, header) pairs. On a terminal (or with
    `width`) the widest text columns are cut with `…` so that each line fits; piped: full width."""
    cells = [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    headers = [h for _, h in columns]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    width = width or terminal_width()
    if width:
        text = [not all(_numeric(c[i]) or c[i] == "-" for c in cells) for i in range(len(headers))]
        floors = [max(len(h), 1) for h in headers]
        widths = [max(w, f) if t else w for w, f, t in zip(fit_widths(widths, text, width), floors, text, strict=True)]
    print("  ".join(_cut(h, w).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print("  ".join(_cut(v, w).rjust(w) if _numeric(v) else _cut(v, w).ljust(w)
                        for v, w in zip(c, widths, strict=True)).rstrip())


_NUMBER = re.compile(r"[-+]?\$?[-+]?[\d,]*\.?\d+(e[-+]?\d+)?[%x]?")


def _numeric(v: str) -> bool:
    """A figure (1,234, $0.42, -12.5%, 3.2x): right-aligned; text, dates and ids are not."""
    return bool(_NUMBER.fullmatch(v))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)
