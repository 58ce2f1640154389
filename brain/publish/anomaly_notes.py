"""One note per anomaly in `<folder>/Anomalies/`, acknowledged by hand, regenerated around the edit.

`brain publish` writes `<id> <agent>.md` for every anomaly of the last 14 days, whatever its
status. A person acknowledges one in Obsidian by setting `status: acknowledged` (or `planned`)
and an optional `ack_note`; the brain reads that back as an ack (brain.anomaly.acks.note_acks).

What is whose, told by the marker line that ends the generated part:

    %% ... brain-anomaly-note <body> <status> <ack_note> %%

`<body>` fingerprints the generated text above the marker; `<status>` and `<ack_note>` the
values the brain wrote for those two properties (as the vault reader reads them, so Obsidian
writing the frontmatter back in its own style changes nothing). On the next publish:

- a note whose text above the marker no longer matches `<body>` was edited by a person: kept as
  it is, and no longer updated;
- otherwise it is regenerated: `status` and `ack_note` lines whose value is not the one the
  brain wrote are the person's and kept byte for byte (as are properties the person added, and
  everything below the marker); values still as the brain wrote them follow the anomaly, and
  the other generated properties are the brain's (the note says so);
- a file at the note's path that is not such a note (a person's own) is never touched;
- the note of an anomaly no longer listed is removed only when nothing in it is a person's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from brain.files import replacing
from brain.money import usd
from brain.publish.files import yaml_value
from brain.vault.reader import parse_frontmatter

SUBFOLDER = "Anomalies"
NOTE_TYPE = "anomaly"  # as brain.anomaly.acks.NOTE_TYPE reads it
GENERATED_KEY = "brain_generated"  # as brain.publish.notes marks its generated notes
STATUSES = ("open", "acknowledged", "planned")
PERSON_KEYS = ("status", "ack_note")
# the generated properties in their order; `status` and `ack_note` sit among them
KEYS = ("type", GENERATED_KEY, "anomaly_id", "agent", "owner", "team", "severity", "status", "cause", "onset",
        "ended", "impact", "expected_usd_per_day", "actual_usd_per_day", "change", "ack_note", "tags")
MARKER_WORD = "brain-anomaly-note"
_MARKER = re.compile(rf"^%%.*\b{MARKER_WORD} ([0-9a-f]{{16}}) ([0-9a-f]{{8}}) ([0-9a-f]{{8}})[ \t]*%%[ \t]*$")
_KEY = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_ -]*?)\s*:(?:\s|$)")
_UNSAFE = '<>:"/\\|?*#^[]'

CAUSE_WORDS = {
    "volume": "more requests than usual",
    "tokens_per_request": "more tokens per request",
    "model_mix": "a costlier mix of models",
    "price": "a higher price per token",
}


def anomaly_note_name(anomaly: Mapping) -> str:
    """The note name of an anomaly: `<id> <agent>`, stable for the id while the agent keeps its name."""
    agent = "".join("-" if c in _UNSAFE else c for c in str(anomaly.get("agent") or "agent")).strip().strip(".")
    return f"{anomaly['id']} {agent or 'agent'}"


def anomaly_note_path(folder: str, anomaly: Mapping) -> str:
    """The vault path of an anomaly's note under a publish folder."""
    return f"{folder}/{SUBFOLDER}/{anomaly_note_name(anomaly)}.md"


def cause_in_words(cause: str | None) -> str:
    """A decomposition term as people say it (`tokens_per_request` -> `more tokens per request`)."""
    return CAUSE_WORDS.get(str(cause), str(cause or "unknown").replace("_", " "))


# ---------------------------------------------------------------------------------------------
# Reading a note back: whose is what


def _fingerprint(value: object, size: int) -> str:
    raw = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:size]


def _body_print(above: str) -> str:
    """The fingerprint of a note's generated text: what is above the marker."""
    return _fingerprint(above.replace("\r\n", "\n"), 16)


def _value_print(value: object) -> str:
    return _fingerprint(value, 8)


def _fold(key: str) -> str:
    return key.strip().lower().replace(" ", "_").replace("-", "_")


def _value(props: Mapping, key: str):
    """The value the vault reader keeps for a property (any spelling of its name; the last one set)."""
    found = None
    for k, v in props.items():
        if _fold(str(k)) == key:
            found = v
    return found


def _lines(text: str) -> list[str]:
    """Lines split on '\\n' only, endings kept (the vault reader splits there)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@dataclass(frozen=True)
class ParsedNote:
    """A generated anomaly note as found on disk, in the pieces regeneration needs."""

    props: dict  # as the vault reader reads them
    blocks: list[tuple[str | None, str]]  # the frontmatter's (folded key, raw lines) in order
    ours: bool  # the generated text is as the brain wrote it
    person_status: bool  # `status` is not the value the brain wrote
    person_note: bool  # `ack_note` is not the value the brain wrote
    marks: tuple[str, str]  # the fingerprints of the values the brain wrote for status, ack_note
    below: str  # everything after the marker line, raw


def parse_generated(text: str) -> ParsedNote | None:
    """The pieces of a note `brain publish` wrote for an anomaly, or None for any other text (a
    person's own note, a note without the marker or frontmatter)."""
    rest = text.removeprefix("\ufeff")
    lines = _lines(rest)
    if not lines or lines[0].rstrip() != "---":
        return None
    close = next((i for i in range(1, len(lines)) if re.fullmatch(r"---[ \t]*", lines[i].rstrip("\r\n"))), None)
    if close is None:
        return None
    fm_lines, body = lines[1:close], lines[close + 1 :]
    props, error, _ = parse_frontmatter("".join(fm_lines).replace("\r\n", "\n"))
    if error or props.get(GENERATED_KEY) is not True or str(props.get("type")) != NOTE_TYPE:
        return None
    at = next((i for i, line in enumerate(body) if _MARKER.match(line.rstrip("\r\n"))), None)
    if at is None:
        return None
    marker = _MARKER.match(body[at].rstrip("\r\n"))
    assert marker is not None
    blocks: list[tuple[str | None, str]] = []
    for line in fm_lines:
        m = _KEY.match(line)
        if m:
            blocks.append((_fold(m.group(1)), line))
        elif blocks:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + line)
        else:
            blocks.append((None, line))
    status_mark, note_mark = marker.group(2), marker.group(3)
    return ParsedNote(
        props=props,
        blocks=blocks,
        ours=_body_print("".join(body[:at])) == marker.group(1),
        person_status=_value_print(_value(props, "status")) != status_mark,
        person_note=_value_print(_value(props, "ack_note")) != note_mark,
        marks=(status_mark, note_mark),
        below="".join(body[at + 1 :]),
    )


def person_properties(properties: Mapping, body: str) -> dict:
    """An anomaly note's properties without `status` and `ack_note` where they are still the
    values the brain wrote (an ack it showed, or `planned` from a change note): what a person
    wrote, for reading acks back. Notes without the marker (a person's own) are returned whole."""
    props = dict(properties)
    marker = next((m for m in map(_MARKER.match, body.split("\n")) if m), None)
    if marker is None:
        return props
    for key, mark in (("status", marker.group(2)), ("ack_note", marker.group(3))):
        if _value_print(_value(props, key)) == mark:
            props = {k: v for k, v in props.items() if _fold(str(k)) != key}
    return props


# ---------------------------------------------------------------------------------------------
# Writing


def _link(graph, node_id: str | None, fallback: str | None) -> str | None:
    if node_id and node_id in graph.g:
        return f"[[{node_id}|{graph.name_of(node_id)}]]"
    return fallback


def _properties(a: Mapping, graph) -> dict:
    """The generated properties of an anomaly's note, in KEYS order."""
    nid = a.get("agent_node")
    is_agent = bool(nid) and nid in graph.g and graph.node(nid).get("type") == "agent"
    own = graph.owner_of_id(nid) if is_agent else {"person_id": None, "team_id": None, "person": None, "team": None}
    owner_id = own["person_id"] or own["team_id"]
    change_ids = list(a.get("change_ids") or [])
    changes = list(a.get("changes") or [])
    change = _link(graph, change_ids[0], changes[0] if changes else None) if change_ids else (changes[0] if changes else None)
    return {
        "type": NOTE_TYPE,
        GENERATED_KEY: True,
        "anomaly_id": a["id"],
        "agent": _link(graph, nid if is_agent else None, a.get("agent")),
        "owner": _link(graph, owner_id, a.get("owner")),
        "team": own["team"] or a.get("team"),
        "severity": a.get("severity"),
        "status": a.get("status") or "open",
        "cause": a.get("cause"),
        "onset": a.get("onset"),
        "ended": a.get("ended_at"),
        "impact": round(float(a.get("projected_30d_impact_usd") or 0.0), 2),
        "expected_usd_per_day": round(float(a.get("expected_usd_per_day") or 0.0), 2),
        "actual_usd_per_day": round(float(a.get("actual_usd_per_day") or 0.0), 2),
        "change": change,
        "ack_note": a.get("note") or "",
        "tags": ["brain/anomaly"],
    }


def _body(a: Mapping, props: dict, graph, person: ParsedNote | None) -> str:
    """The generated Markdown above the marker."""
    name = str(a.get("agent"))
    onset = str(a.get("onset") or "")
    when = onset[:16].replace("T", " ") + " UTC" if onset else "an unknown time"
    out = [
        f"# {name}: {a.get('severity')} cost anomaly since {when}\n",
        f"> [!warning] Generated by Company Brain (`brain publish`); updated on every publish.\n"
        f"> To acknowledge it, set `status` to `acknowledged` (or `planned` for a cost change you expected) "
        f"and say why in `ack_note`, here in the note's properties; or run "
        f"`brain anomalies ack {a['id']} --note \"why\"`. It then stops alerting. "
        f"Write your own notes below the line at the end: they are kept.\n",
    ]
    status, note = a.get("status") or "open", a.get("note") or ""
    if person is not None and person.person_status:
        shown = _value(person.props, "status")
        if not (isinstance(shown, str) and shown.strip().lower() in STATUSES):
            out.append(f"> [!danger] `status: {shown}` is not one of {', '.join(STATUSES)}: "
                       "it is not read as an acknowledgement.\n")
        elif shown.strip().lower() == "open" and status != "open":
            out.append(f"> [!note] The brain has it as **{status}** ({note or 'no note'}): "
                       "`brain anomalies ack` recorded that, and a note saying open does not undo it.\n")
    state = "ongoing" if a.get("ongoing") else (
        f"ended {str(a.get('ended_at'))[:16].replace('T', ' ')} UTC" + (f" ({a.get('end')})" if a.get("end") else "")
        if a.get("ended_at") else f"last flagged {str(a.get('last_bucket') or '')[:16].replace('T', ' ')} UTC")
    out += [
        f"Agent: {props['agent'] or name} · owner: {props['owner'] or '**none**'} · team: {props['team'] or '-'} · "
        f"status: **{status}**" + (f" ({note})" if note else "") + "\n",
        f"**Cause: {cause_in_words(a.get('cause'))}** (`{a.get('cause')}`); a {a.get('family') or ''} "
        f"seen per {a.get('granularity') or 'hour'}, {state}.\n",
        "| | $/day |",
        "|---|---:|",
        f"| expected | {usd(a.get('expected_usd_per_day'))} |",
        f"| actual | {usd(a.get('actual_usd_per_day'))} |",
        f"| excess | {usd(a.get('excess_usd_per_day'))} |",
        f"| projected 30-day impact | {usd(a.get('projected_30d_impact_usd'))} |",
        "",
    ]
    decomposition = {k: v for k, v in (a.get("decomposition") or {}).items() if abs(v or 0.0) >= 0.005}
    if decomposition:
        out += ["## Where the extra cost comes from\n", "| term | $/day |", "|---|---:|"]
        for term, v in sorted(decomposition.items(), key=lambda kv: -abs(kv[1])):
            out.append(f"| {cause_in_words(term)} (`{term}`) | {usd(v)} |")
        out.append("")
    signals = {k: v for k, v in (a.get("signals") or {}).items() if isinstance(v, dict) and v.get("ratio") is not None}
    if signals:
        out += ["| signal | expected | actual | ratio |", "|---|---:|---:|---:|"]
        out += [f"| {k.replace('_', ' ')} | {v.get('expected')} | {v.get('actual')} | x{v.get('ratio')} |" for k, v in signals.items()]
        out.append("")
    out.append("## Change notes near the onset\n")
    ids, names = list(a.get("change_ids") or []), list(a.get("changes") or [])
    if names:
        out += [f"- {_link(graph, cid, None) or f'[[{n}]]'}" for cid, n in zip(ids + [None] * len(names), names, strict=False)]
    else:
        out.append("None found. A change note about this agent dated near the onset (in `Changes/`, from the "
                   "Change template or the record_change tool) would explain it.")
    nid = a.get("agent_node")
    if nid and nid in graph.g:
        needing = graph.dependents(nid, 3)
        if needing:
            out += ["", "## What depends on this agent\n"]
            out += [f"- [[{d['id']}|{d['name']}]] ({d['type']})" for d in needing]
    out.append("")
    return "\n".join(out) + "\n"


def render(a: Mapping, graph, existing: ParsedNote | None = None) -> str:
    """The note of anomaly `a` (a dict as Anomaly.to_dict gives it), regenerated around `existing`
    (the note on disk, when the brain wrote it): its person-written `status`, `ack_note`, added
    properties and text below the marker are kept byte for byte."""
    props = _properties(a, graph)
    body = _body(a, props, graph, existing)
    person: dict[str, list[str]] = {}
    extra: list[str] = []
    if existing is not None:
        for key, raw in existing.blocks:
            if key in PERSON_KEYS and getattr(existing, "person_status" if key == "status" else "person_note"):
                person.setdefault(key, []).append(raw)
            elif key is not None and key not in KEYS:
                extra.append(raw)  # a property the person added
    fm = []
    for k in KEYS:
        fm += person.get(k) or [f"{k}: {props[k] if k == 'status' else yaml_value(props[k])}\n"]
    fm += [raw if raw.endswith("\n") else raw + "\n" for raw in extra]
    frontmatter = "".join(fm)
    read, _, _ = parse_frontmatter(frontmatter.replace("\r\n", "\n"))
    marks = [_value_print(_value(read, k)) for k in PERSON_KEYS]
    if existing is not None:  # a person's value stays theirs: keep what the brain wrote there before
        marks = [existing.marks[i] if k in person else marks[i] for i, k in enumerate(PERSON_KEYS)]
    marker = (f"%% Company Brain regenerates the note above this line on every publish, keeping what you set in "
              f"status and ack_note; what you write below it is kept. {MARKER_WORD} "
              f"{_body_print(body)} {marks[0]} {marks[1]} %%\n")
    below = existing.below if existing is not None else "\n"
    return f"---\n{frontmatter}---\n{body}{marker}{below}"


@dataclass
class NotesReport:
    """What writing the anomaly notes did (vault paths), folded into the publish report."""

    written: list[str]
    unchanged: list[str]
    removed: list[str]
    kept: list[str]


class _Changed(Exception):
    """The file changed while its new text was being written."""


def _read(path: Path) -> str | None:
    """A regular file's text (not a symbolic link), or None when there is none or it is not UTF-8."""
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _replace(path: Path, data: bytes, before: bytes | None) -> None:
    """Write `data` at `path` through a temporary file, unless the file no longer holds `before`
    (None: no file) right before the replace: a person saving it meanwhile wins."""
    with replacing(path) as (f, _):
        f.write(data)
        f.flush()
        try:
            now = None if path.is_symlink() else path.read_bytes()
        except FileNotFoundError:
            now = None
        if now != before:
            raise _Changed(path)


def write_anomaly_notes(root: Path, folder: str, anomalies: list[Mapping], graph) -> NotesReport:
    """Write the note of every anomaly in `anomalies` into `<folder>/Anomalies/` (checked by the
    caller to be a real folder in the vault), regenerated around a person's edits, and remove the
    notes of anomalies no longer listed that hold nothing a person wrote."""
    report = NotesReport([], [], [], [])
    sub = root / folder / SUBFOLDER
    wanted: dict[str, Mapping] = {anomaly_note_path(folder, a): a for a in anomalies}
    for rel, a in sorted(wanted.items()):
        path = root / rel
        text = _read(path)
        existing = parse_generated(text) if text is not None else None
        if (text is None and (path.exists() or path.is_symlink())) or (text is not None and (existing is None or not existing.ours)):
            report.kept.append(rel)  # a person's own note at this place, or a generated one they rewrote
            continue
        new = render(a, graph, existing)
        if new == text:
            report.unchanged.append(rel)
            continue
        try:
            sub.mkdir(parents=True, exist_ok=True)
            _replace(path, new.encode("utf-8"), None if text is None else text.encode("utf-8"))
        except _Changed:
            report.kept.append(rel)
            continue
        report.written.append(rel)
    if sub.is_dir():
        for path in sorted(sub.glob("*.md")):
            rel = path.relative_to(root).as_posix()
            if rel in wanted:
                continue
            text = _read(path)
            old = parse_generated(text) if text is not None else None
            if old is None:
                continue  # a person's own note in the folder
            if old.ours and not old.person_status and not old.person_note and not old.below.strip():
                if _read(path) == text:
                    path.unlink(missing_ok=True)
                    report.removed.append(rel)
            else:
                report.kept.append(rel)  # acknowledged or annotated by a person: theirs now
    return report
