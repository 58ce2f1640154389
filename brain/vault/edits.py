"""Notes as files: safe vault paths from clients, reading, and the two careful write operations.

Over 400 lines on purpose: both writes share the path checks, the settle-and-compare read and the
atomic replace, which must not drift apart.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from brain.errors import BrainError, NotFound, VaultError
from brain.files import replacing, sha256
from brain.vault.frontmatter_edit import edit_property, set_frontmatter_property, yaml_string
from brain.vault.reader import Note, parse_note

CHANGE_KINDS = ("deploy", "prompt", "model", "schedule", "config", "docs")
CHANGE_TEMPLATE = "Templates/Change.md"
CHANGES_FOLDER = "Changes"

# Used when the vault has no Templates/Change.md; same fields as the starter vault's template.
_FALLBACK_CHANGE_TEMPLATE = """---
type: change
agent: ""
date: ""
kind: deploy
expected_cost_change: false
summary: ""
---
# {{title}}

## What changed

## Why
"""


class UnsafePath(VaultError):
    """A note path from a client that would leave the vault or reach a hidden folder."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"refused note path {path!r}: {reason}; give a vault-relative path like 'Agents/Support Agent.md'")


class NoteChanged(BrainError):
    """A note changed on disk after the brain read it; the write was refused, nothing was written."""

    def __init__(self, path: str, message: str | None = None):
        self.path = path
        super().__init__(
            message
            or f"note {path!r} changed on disk since the brain read it; nothing was written. "
            "The brain has re-read it: check it (read_note) and retry if the change still applies"
        )


class NoteBusy(NoteChanged):
    """A note is being written by something else (an editor mid-save); nothing was written, retry soon."""

    def __init__(self, path: str, why: str):
        self.why = why
        super().__init__(
            path, f"note {path!r} looks like it is being saved right now ({why}); nothing was written. Retry in a few seconds"
        )


class NoteReadOnly(VaultError):
    """A note its owner made read-only; the brain does not write it."""

    def __init__(self, path: str, mode: int):
        self.path = path
        self.mode = mode
        super().__init__(
            f"note {path!r} is read-only (mode {mode:04o}); nothing was written. "
            "Make it writable (chmod u+w) if the brain should change it"
        )


@dataclass(frozen=True)
class NoteText:
    """One note file as read: vault path, full text, and the stamp a later write is checked against."""

    id: str
    path: str
    text: str
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class WriteResult:
    """What a write operation did: the note path, the new stamp, and a one-line summary."""

    path: str
    created: bool
    mtime_ns: int
    sha256: str
    summary: str

    def as_dict(self) -> dict:
        """JSON-able form."""
        return {"path": self.path, "created": self.created, "summary": self.summary}


# ---------------------------------------------------------------------------------------------
# Paths


def _decodings(path: str) -> list[str]:
    """The path and its URL-decoded forms (up to three layers), each checked for escapes."""
    out = [path]
    for _ in range(3):
        nxt = unquote(out[-1])
        if nxt == out[-1]:
            break
        out.append(nxt)
    return out


def _check_relative(original: str, candidate: str) -> None:
    if "\x00" in candidate:
        raise UnsafePath(original, "it contains a NUL byte")
    text = candidate.replace("\\", "/")
    if text.startswith("/") or text.startswith("~") or re.match(r"^[A-Za-z]:", text):
        raise UnsafePath(original, "absolute paths are not allowed")
    if "://" in text:
        raise UnsafePath(original, "URLs are not note paths")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafePath(original, "it is empty")
    for p in parts:
        if p == "..":
            raise UnsafePath(original, "'..' would leave the vault")
        if p.startswith("."):
            raise UnsafePath(original, f"hidden folder or file {p!r} (dot-folders are not part of the vault)")


def safe_note_path(root: str | os.PathLike, path: str, linked: Callable[[str], bool] | None = None) -> tuple[str, Path]:
    """Vault-relative POSIX path (with .md) and absolute file of a client-given note path; raises UnsafePath.

    The path itself never leaves the vault. It may lead through a symlink the vault holds to a file
    outside it only when `linked(rel)` says so: a note read into the graph through a folder the
    vault links in, as Obsidian reads it.
    """
    if not isinstance(path, str) or not path.strip():
        raise UnsafePath(str(path), "it is empty")
    forms = _decodings(path.strip())
    # a name typed composed (NFC) names the file macOS wrote decomposed (NFD), and the other way round
    forms += [n for f in list(forms) for n in (unicodedata.normalize("NFC", f), unicodedata.normalize("NFD", f))
              if n not in forms]
    for form in forms:
        _check_relative(path, form)
    root_real = Path(root).resolve()
    chosen = None
    for form in forms:
        rel = "/".join(p for p in form.replace("\\", "/").split("/") if p not in ("", "."))
        if not rel.lower().endswith(".md"):
            rel += ".md"
        if chosen is None:
            chosen = rel
        if (root_real / rel).exists():
            chosen = rel
            break
    assert chosen is not None
    full = root_real / chosen
    real = full.resolve()
    if real != root_real and root_real not in real.parents:
        if linked is not None and linked(chosen):
            return chosen, full
        raise UnsafePath(path, "it resolves (through a symlink) outside the vault")
    rel_real = real.relative_to(root_real).as_posix()
    if any(p.startswith(".") for p in rel_real.split("/")):
        raise UnsafePath(path, "it resolves into a hidden folder")
    return chosen, full


def read_note_text(root: str | os.PathLike, path: str, linked: Callable[[str], bool] | None = None) -> NoteText:
    """Read one note by client-given path, refusing anything outside the vault (see safe_note_path); raises NotFound."""
    rel, full = safe_note_path(root, path, linked)
    try:
        st = full.stat()
        data = full.read_bytes()
    except FileNotFoundError:
        raise NotFound("note", path, _near_paths(root, rel)) from None
    except IsADirectoryError:
        raise NotFound("note", path, _near_paths(root, rel)) from None
    except OSError as exc:
        raise VaultError(f"cannot read note {rel!r}: {exc.strerror or exc}") from exc
    return NoteText(id=rel[:-3], path=rel, text=data.decode("utf-8", "replace"), mtime_ns=st.st_mtime_ns, sha256=sha256(data))


def _near_paths(root: str | os.PathLike, rel: str, n: int = 3) -> list[str]:
    """Existing notes in the same folder whose names are close to `rel`."""
    import difflib

    folder = Path(root) / rel
    folder = folder.parent
    try:
        names = [p.name for p in folder.iterdir() if p.suffix.lower() == ".md" and not p.name.startswith(".")]
    except OSError:
        return []
    prefix = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    return [prefix + m for m in difflib.get_close_matches(rel.rsplit("/", 1)[-1], names, n=n, cutoff=0.5)]


# ---------------------------------------------------------------------------------------------
# Writes


@dataclass(frozen=True)
class Settle:
    """How a write waits for a note an editor may be saving in place (truncate, then write)."""

    interval_s: float = 0.05  # two reads this far apart must agree (size, mtime, inode and bytes)
    max_wait_s: float = 1.0  # a note still changing after this is refused (NoteBusy)
    fresh_s: float = 2.0  # a file written this recently may be mid-save: wait for it to hold still
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time


def _snapshot(full: Path) -> tuple[os.stat_result, bytes]:
    st = full.stat()
    return st, full.read_bytes()


def _same_file(a: tuple[os.stat_result, bytes], b: tuple[os.stat_result, bytes]) -> bool:
    (sa, da), (sb, db) = a, b
    return (sa.st_ino, sa.st_size, sa.st_mtime_ns) == (sb.st_ino, sb.st_size, sb.st_mtime_ns) and da == db


def _read_settled(full: Path, rel: str, settle: Settle) -> tuple[os.stat_result, bytes]:
    """The note's stat and bytes, read only once it holds still; raises NoteBusy.

    An editor that saves in place truncates the file and writes it a moment later: a read in
    between sees an empty or partial note, and an edit made from it would replace the user's
    text. A file that is empty or was written in the last `fresh_s` is read again after
    `interval_s` until two reads agree (at most `max_wait_s`); an empty file written that
    recently is refused outright, as it looks exactly like a save in progress. What this cannot
    see: a writer that stalls longer than `interval_s` between truncate and write.
    """
    snap = _snapshot(full)
    age_s = settle.now() - snap[0].st_mtime_ns / 1e9
    if snap[1] and not -settle.fresh_s < age_s < settle.fresh_s:
        return snap
    waited_s = 0.0
    while True:
        settle.sleep(settle.interval_s)
        waited_s += settle.interval_s
        again = _snapshot(full)
        if _same_file(snap, again):
            break
        snap = again
        if waited_s >= settle.max_wait_s:
            raise NoteBusy(rel, f"it kept changing for {settle.max_wait_s:g} s")
    age_s = settle.now() - snap[0].st_mtime_ns / 1e9
    if not snap[1] and -settle.fresh_s < age_s < settle.fresh_s:
        raise NoteBusy(rel, f"it is empty and was written {max(age_s, 0):.1f} s ago, as an editor saving it leaves it")
    return snap


def _check_writable(full: Path, st: os.stat_result, rel: str) -> None:
    """Refuse a note its owner made read-only; the atomic replace would otherwise go through (it needs only the folder)."""
    if not st.st_mode & stat.S_IWUSR or not os.access(full, os.W_OK):
        raise NoteReadOnly(rel, stat.S_IMODE(st.st_mode))


def _atomic_write(full: Path, data: bytes, expect_sha: str | None) -> int:
    """Replace `full` with `data` via a temp file, refusing if its bytes are no longer `expect_sha`.

    The bytes are compared right before the replace, so the window in which an editor's write is
    missed is that of one read. It cannot be closed: an editor still holding the old file open
    and writing to it after the replace writes into the replaced file, and that text is lost.
    """
    with replacing(full) as (f, tmp):
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        if expect_sha is not None:
            try:
                os.chmod(tmp, full.stat().st_mode & 0o7777)
                current = full.read_bytes()
            except FileNotFoundError:
                current = b""
            if sha256(current) != expect_sha:
                raise NoteChanged(full.name)
    return full.stat().st_mtime_ns


def _check_unchanged(
    rel: str,
    st: os.stat_result,
    data: bytes,
    expected_mtime_ns: int | None,
    expected_sha256: str | None,
    seen: Note | None,
) -> None:
    """Refuse a note whose bytes, mtime or (against the graph's copy `seen`) content are not as read before."""
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise NoteChanged(rel)
    if expected_mtime_ns is not None and st.st_mtime_ns != expected_mtime_ns:
        raise NoteChanged(rel)
    if seen is not None:
        # the graph keeps no hash of the bytes: compare what it read, properties and body, with what is there now
        now = parse_note(seen.id, data.decode("utf-8", "replace"))
        if st.st_mtime_ns != seen.mtime_ns or now.properties != seen.properties or now.body != seen.body:
            raise NoteChanged(rel)


def _read_for_edit(root: str | os.PathLike, path: str, settle: Settle, expected_mtime_ns: int | None,
                   expected_sha256: str | None, seen: Note | None) -> tuple[str, Path, os.stat_result, bytes, str]:
    """A note about to be edited: (vault path, file, its stat, bytes, text), once it is known to be
    there, settled (not mid-save), writable, unchanged since read and UTF-8; else the reason raised."""
    rel, full = safe_note_path(root, path)
    try:
        st, raw = _read_settled(full, rel, settle)
    except (FileNotFoundError, IsADirectoryError):
        raise NotFound("note", path, _near_paths(root, rel)) from None
    except OSError as exc:
        raise VaultError(f"cannot read note {rel!r}: {exc.strerror or exc}") from exc
    _check_writable(full, st, rel)
    _check_unchanged(rel, st, raw, expected_mtime_ns, expected_sha256, seen)
    try:
        return rel, full, st, raw, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultError(f"note {rel!r} is not valid UTF-8; the brain does not edit it") from None


def set_owner(
    root: str | os.PathLike,
    path: str,
    owner_link: str,
    expected_mtime_ns: int | None = None,
    expected_sha256: str | None = None,
    seen: Note | None = None,
    settle: Settle = Settle(),
) -> WriteResult:
    """Set the `owner` frontmatter property of one note, keeping every other byte; refuses stale,
    mid-save and read-only notes.

    `seen` is the note as the caller read it (the graph's copy): the write is refused when the file
    now reads differently, as with `expected_mtime_ns` / `expected_sha256`.
    """
    rel, full, st, raw, text = _read_for_edit(root, path, settle, expected_mtime_ns, expected_sha256, seen)
    edit = edit_property(text, "owner", yaml_string(owner_link))
    data = edit.text.encode("utf-8")
    mtime = _atomic_write(full, data, expect_sha=sha256(raw))
    summary = f"set owner of {rel[:-3]!r} to {owner_link}"
    if edit.times_set_before > 1:
        summary += f" (the note set 'owner' {edit.times_set_before} times; the last one, the one that counts, was changed)"
    return WriteResult(rel, False, mtime, sha256(data), summary)


def set_properties(
    root: str | os.PathLike,
    path: str,
    values: dict[str, str],
    summary: str,
    seen: Note | None = None,
    settle: Settle = Settle(),
) -> WriteResult:
    """Set top-level frontmatter properties of one note (`values`: key -> YAML value text), keeping
    every other byte, in one write; refuses stale (`seen`, as set_owner), mid-save and read-only notes."""
    rel, full, st, raw, text = _read_for_edit(root, path, settle, None, None, seen)
    for key, value_yaml in values.items():
        text = edit_property(text, key, value_yaml).text
    data = text.encode("utf-8")
    if data == raw:
        return WriteResult(rel, False, st.st_mtime_ns, sha256(data), f"{summary} (it already was)")
    mtime = _atomic_write(full, data, expect_sha=sha256(raw))
    return WriteResult(rel, False, mtime, sha256(data), summary)


def render_change_note(template: str, agent_link: str, kind: str, summary: str, when: dt.datetime, title: str) -> str:
    """Fill the vault's change template: type, agent, date, kind, summary and title; drop the usage tip."""
    iso = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {
        "type": "change",
        "agent": yaml_string(agent_link),
        "date": iso,
        "kind": kind,
        "summary": yaml_string(summary),
    }
    macros = {"title": title, "date": when.strftime("%Y-%m-%d"), "time": when.strftime("%H:%M")}
    # the template's macros are filled first and in one pass, so none in the summary or title is ever expanded
    text = re.sub(r"\{\{(title|date|time)(?::[^}]*)?\}\}", lambda m: macros[m.group(1)], template.replace("\r\n", "\n"))
    for key, val in values.items():
        text = set_frontmatter_property(text, key, val)
    # The template's "> [!tip] Using this template" callout is for people filling it in by hand.
    text = re.sub(r"\n> \[!tip\][^\n]*\n(?:>[^\n]*\n)*", "\n", text)
    if "## What changed\n" in text:
        text = text.replace("## What changed\n", f"## What changed\n{summary}\n", 1)
    else:
        text = text.rstrip("\n") + f"\n\n{summary}\n"
    return text


def _safe_file_name(text: str) -> str:
    """A note name without characters Obsidian or file systems refuse."""
    cleaned = re.sub(r'[\\/:*?"<>|#^\[\]\x00-\x1f]+', " ", text)
    return " ".join(cleaned.split()).strip(" .")[:120] or "change"


def record_change(
    root: str | os.PathLike,
    agent_name: str,
    kind: str,
    summary: str,
    when: dt.datetime | None = None,
) -> WriteResult:
    """Create a change note in Changes/ from the vault's change template; never overwrites a note."""
    kind = (kind or "").strip().lower()
    if kind not in CHANGE_KINDS:
        raise BrainError(f"unknown change kind {kind!r}; use one of {', '.join(CHANGE_KINDS)}")
    summary = " ".join((summary or "").split())
    if not summary:
        raise BrainError("a change needs a one-line summary of what changed")
    when = when or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    root_p = Path(root).resolve()
    template_file = root_p / CHANGE_TEMPLATE
    template = template_file.read_text(encoding="utf-8") if template_file.is_file() else _FALLBACK_CHANGE_TEMPLATE
    base = _safe_file_name(f"{when.strftime('%Y-%m-%d')} {agent_name} {kind}")
    folder = root_p / CHANGES_FOLDER
    folder.mkdir(exist_ok=True)
    for n in range(1, 1000):
        name = base if n == 1 else f"{base} {n}"
        rel = f"{CHANGES_FOLDER}/{name}.md"
        _, full = safe_note_path(root_p, rel)
        data = render_change_note(template, f"[[{agent_name}]]", kind, summary, when, name).encode("utf-8")
        try:
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return WriteResult(rel, True, full.stat().st_mtime_ns, sha256(data), f"recorded {kind} change of {agent_name!r} in {rel!r}")
    raise BrainError(f"too many change notes named {base!r}; pick a different summary or date")


def parse_when(value: str | None) -> dt.datetime | None:
    """An ISO 8601 date or datetime from a client (naive = UTC); raises BrainError with the expected form."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BrainError(f"cannot read when={value!r}; use ISO 8601 like '2025-01-15' or '2025-01-15T10:00:00Z'") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
