"""The demo company: `build_demo` copies the starter vault (brain.vault.template) and adds a company
and its usage; `demo_summary` is what `brain demo` prints."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from brain.alerts.settings import SETTINGS_NOTE
from brain.demo import company as co
from brain.demo.usage import generate_usage
from brain.errors import VaultError
from brain.files import sha256
from brain.vault.template import init_vault, is_empty, template_path

if TYPE_CHECKING:
    from brain.facade import Brain

log = logging.getLogger(__name__)

DEMO_MARKER = ".brain/demo.json"  # written by build_demo; lets a later run rebuild the same folder
EXAMPLE_FOLDERS = ("Agents", "Tools", "Integrations", "People", "Teams", "Changes", "Prices")


@dataclass(frozen=True)
class DemoVault:
    """What build_demo made: the vault, its store, the story timeline and how much usage went in."""

    vault: Path
    store: Path
    timeline: co.Timeline
    seed: int
    events: int
    accepted: int
    notes: int
    kept: tuple[str, ...] = ()  # the user's notes at the demo's names (edited demo notes too), left as they were


@dataclass(frozen=True)
class DemoMarker:
    """What the last `build_demo` in a folder made: its notes' hashes, its store and its ingests."""

    files: dict[str, str]  # vault path -> SHA-256 of the bytes the demo wrote
    store: str | None  # the store it ingested into (None: a marker from before this was recorded)
    ingests: tuple[int, ...]  # its ingest ids in that store


def _previous_demo(dest: Path) -> DemoMarker | None:
    """The folder's demo marker; None when the folder is not a demo vault (or its marker is unreadable)."""
    marker = dest / DEMO_MARKER
    if not marker.is_file():
        return None
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
        if "files" in doc:
            return DemoMarker(dict(doc["files"]), doc.get("store"), tuple(int(i) for i in doc.get("ingests", ())))
        return DemoMarker(_legacy_files(doc), None, ())
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return None


def _legacy_files(doc: dict) -> dict[str, str]:
    """A marker from before the hashes: the notes it lists (and Home.md), hashed as its seed and
    `now` make them again; a note this version writes differently counts as edited (kept)."""
    now = datetime.fromisoformat(doc["now"])
    notes = co.company_notes(co.Timeline(now=now, days=int(doc["days"])), int(doc["seed"]))
    notes["Home.md"] = _demo_home((template_path() / "Home.md").read_text(encoding="utf-8"))
    listed = {*doc.get("notes", ()), "Home.md"}
    return {rel: sha256(text.encode("utf-8")) for rel, text in notes.items() if rel in listed}


def _file_bytes(path: Path) -> bytes | None:
    if path.is_symlink() or not path.is_file():
        return None
    return path.read_bytes()


def _foreign_usage(store: Path, previous: DemoMarker | None) -> tuple[int, int, int]:
    """(ingests, events) in `store` the demo did not make, and its anomaly acknowledgements."""
    from brain.store.database import Store, one_row

    if not store.exists():
        return 0, 0, 0
    with Store(store, read_only=True) as st:
        ingests = st.con.execute("SELECT ingest_id, sources FROM ingests").fetchall()
        if previous is None:
            ours: set[int] = set()
        elif previous.store is None:  # an older marker: the demo's ingests are those of source 'demo'
            ours = {i for i, sources in ingests if list(sources) == ["demo"]}
        else:
            ours = set(previous.ingests) if Path(previous.store) == store else set()
        foreign = [i for i, _ in ingests if i not in ours]
        events = 0
        if foreign:
            events = one_row(st.con.execute(
                "SELECT count(*) FROM events WHERE abs(ingest_id) IN (SELECT unnest(?::BIGINT[]))", [foreign]
            ))[0]
        acks = one_row(st.con.execute("SELECT count(*) FROM anomaly_acks"))[0]
    return len(foreign), int(events), int(acks)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _demo_settings(template_settings: str) -> str:
    """The starter settings note with a default channel (finance hears about what no owner claims):
    the demo shows where each alert would go; a channel's URL stays out of the vault."""
    text, n = re.subn(r"(?m)^default_channel:[ \t]*$", "default_channel: finops-alerts", template_settings, count=1)
    if n != 1:
        raise ValueError("the starter settings note has no empty default_channel line")
    return text


def _demo_home(template_home: str) -> str:
    """The template's Home note with its examples paragraph replaced by the demo's story."""
    story = (
        "This is the **demo company**: a [[Support Agent]] answering ~40,000 conversations a month, "
        "a [[Research Assistant]] that runs a 12-step chain per request, a [[Daily Summariser]] that "
        "has been running every hour since a scheduler change, three internal copilots, weekend "
        "scripts nobody owns and twelve developers' personal keys. Its costs are published in "
        "[[Brain/Cost Dashboard]] (leaderboards, open anomalies, unclaimed keys) with a cost note per "
        "agent under `Brain/Costs/` and a note per anomaly under `Brain/Anomalies/`; alert settings "
        "are in [[Brain/Settings]]. Try `brain spend`, `brain agent \"Research Assistant\"`, "
        "`brain anomalies`, `brain alerts --dry-run` and `brain check` with `--vault` set to this folder."
    )
    return re.sub(r"The example notes .*?\n\n", story + "\n\n", template_home, count=1, flags=re.S)


def build_demo(
    path: str | Path,
    seed: int = 7,
    days: int = 60,
    now: datetime | None = None,
    force: bool = False,
    store_path: str | Path | None = None,
) -> DemoVault:
    """Make the demo vault at `path` with `days` of usage ending at `now` (UTC) in its store."""
    from brain.ingest import ingest_table
    from brain.store.database import Store

    if days < 1:
        raise VaultError("--days must be at least 1")
    now = now or co.default_now()
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    if now > co.default_now() + timedelta(minutes=5):
        raise VaultError(f"--now {now.isoformat()} is in the future; the store refuses future usage")
    dest = Path(path).expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise VaultError(f"{dest} exists and is not a folder")
    previous = _previous_demo(dest)
    if previous is None and not is_empty(dest):  # --force too: never mix the demo into someone's vault
        raise VaultError(f"{dest} is not empty and is not a demo vault; the demo builds into an empty "
                         "folder or rebuilds its own, so choose a new folder (--force does not change this)")
    store = Path(store_path).expanduser().resolve() if store_path else dest / ".brain" / "usage.duckdb"
    tl = co.Timeline(now=now, days=days)
    notes = co.company_notes(tl, seed)
    notes["Home.md"] = _demo_home((template_path() / "Home.md").read_text(encoding="utf-8"))
    notes[SETTINGS_NOTE] = _demo_settings((template_path() / SETTINGS_NOTE).read_text(encoding="utf-8"))

    # What a rebuild may replace: the demo's own notes, unchanged since it wrote them, and a store
    # holding nothing but its own usage. Everything else is the user's and stays as it is.
    own = previous.files if previous else {}
    current = {rel: _file_bytes(dest / rel) for rel in {*own, *notes}}
    mine = {rel for rel, data in current.items() if data is not None and own.get(rel) == sha256(data)}
    edited = sorted(rel for rel in own if rel not in mine and (dest / rel).exists())
    clashes = sorted(rel for rel, text in notes.items() if rel not in own and (dest / rel).exists()
                     and current[rel] != text.encode("utf-8"))
    foreign_ingests, foreign_events, acks = _foreign_usage(store, previous)
    if foreign_ingests:
        raise VaultError(
            f"the usage store {store} holds {_count(foreign_events, 'usage event')} from "
            f"{_count(foreign_ingests, 'ingest')} that are not the demo's; the demo never deletes them or mixes "
            "its usage in: build it in a new folder, or pass --store with a new store file (--force does not change this)")
    if (edited or clashes or acks) and not force:
        lost = [f"{_count(len(edited), 'demo note')} edited ({', '.join(edited)})"] if edited else []
        lost += [f"{_count(len(clashes), 'note')} of yours at a demo note's name ({', '.join(clashes)})"] if clashes else []
        lost += [f"{_count(acks, 'anomaly acknowledgement')} in its store"] if acks else []
        raise VaultError(f"{dest} is a demo vault you have changed: {'; '.join(lost)}. Pass --force to rebuild "
                         "the demo around your notes (they are kept as they are; acknowledgements of demo "
                         "anomalies go with the demo's usage), or choose a new folder")
    kept = tuple(sorted({*edited, *clashes}))
    if previous is not None:
        log.info("rebuilding the demo in %s (keeping %d changed notes)", dest, len(kept))
        for rel in sorted(mine - set(notes)):
            (dest / rel).unlink(missing_ok=True)
        for suffix in ("", ".wal"):  # nothing but the demo's own usage (checked above)
            Path(f"{store}{suffix}").unlink(missing_ok=True)
    init_vault(dest, force=previous is not None)
    for folder in EXAMPLE_FOLDERS:  # the template's examples make way for the demo company
        for example in (template_path() / folder).glob("*.md"):
            if _file_bytes(dest / folder / example.name) == example.read_bytes():
                (dest / folder / example.name).unlink()
    written = {rel: text for rel, text in notes.items() if rel not in kept}
    co.write_notes(dest, written)

    table = generate_usage(now, days=days, seed=seed)
    log.info("generated %d usage events", table.num_rows)
    with Store(store) as st:
        report = ingest_table(st, table, source="demo")
    if report.quarantined:
        log.warning("%d demo events were quarantined; see `brain quarantine`", report.quarantined)
    marker = dest / DEMO_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {"version": 2, "seed": seed, "days": days, "now": now.isoformat(), "notes": sorted(written),
             "files": {rel: sha256((dest / rel).read_bytes()) for rel in sorted(written)},
             "store": str(store), "ingests": [report.ingest_id] if report.ingest_id is not None else []},
            indent=2,
        ),
        encoding="utf-8",
    )
    return DemoVault(dest, store, tl, seed, table.num_rows, report.accepted, len(notes), kept)


def demo_summary(brain_: Brain, demo: DemoVault, window_days: int = 30) -> dict:
    """Headline figures of a demo vault: leaderboards by agent and team, unattributed keys, gaps, anomalies."""
    from brain.costs import spend

    graph = brain_.graph
    identities = graph.agent_identities()
    notes = graph.price_notes()
    tl = demo.timeline

    def report(by: str, **window) -> dict:
        window = window or {"days": window_days}
        return spend.spend_report(brain_.store, identities, by=by, price_notes=notes, now=tl.now, **window)

    def per_run(agent: str, **window) -> float | None:
        rows = [r for r in report("agent", **window)["rows"] if r["group"] == agent]
        return rows[0]["cost_per_run_usd"] if rows else None

    prompt_day = tl.research_prompt_change.date()
    by_agent = report("agent")
    return {
        "vault": str(demo.vault),
        "store": str(demo.store),
        "seed": demo.seed,
        "days": tl.days,
        "now": tl.now.isoformat().replace("+00:00", "Z"),
        "events": demo.events,
        "notes": demo.notes,
        "window_days": window_days,
        "total_usd": by_agent["total_usd"],
        "run_rate_usd_per_day": by_agent["run_rate_usd_per_day"],
        "projected_30d_usd": by_agent["projected_30d_usd"],
        "unattributed_usd": by_agent["unattributed_usd"],
        "headline": {
            "support_cost_per_conversation_usd": per_run("Support Agent", days=window_days),
            "research_cost_per_run_usd": per_run(
                "Research Assistant", since=prompt_day - timedelta(days=window_days), until=prompt_day - timedelta(days=1)
            ),
            "research_cost_per_run_since_prompt_v4_usd": per_run(
                "Research Assistant", since=prompt_day + timedelta(days=1), until=tl.now.date()
            ),
        },
        "by_agent": [r for r in by_agent["rows"] if r["attributed"]],
        "by_team": report("team")["rows"],
        "unattributed_keys": [
            {**r, "group": r["group"].split(":", 1)[-1]} for r in by_agent["rows"] if not r["attributed"]
        ],
        "gaps": [g.as_dict() for g in graph.inventory_gaps()],
        "anomalies": _open_anomalies(brain_, tl.now),
        "alerts": [_alert_row(i) for i in brain_.alert_pass(now=tl.now, dry_run=True)["items"]],
    }


def _alert_row(item: dict) -> dict:
    """Where a dry-run pass would send one alert, and what stops it (a channel without a URL)."""
    return {"alert": item["title"], "channel": item["channel"], "via": item["via"],
            "outcome": item["outcome"], "reason": item["reason"]}


def _open_anomalies(brain_: Brain, now: datetime) -> list[dict]:
    """Open anomalies of the last two weeks at warn or above, most severe first."""
    from brain.anomaly import detect_anomalies

    found = detect_anomalies(brain_.scan_inputs(), days=14, now=now, min_severity="warn", include_closed=False,
                             config=brain_.anomaly_config(now))
    order = {"critical": 0, "warn": 1, "info": 2}
    return sorted(
        (a.to_dict() for a in found), key=lambda a: (order.get(a["severity"], 3), -a["excess_usd_per_day"])
    )
