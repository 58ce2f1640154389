"""Notes as files: safe vault paths from clients, reading, and the two careful write operations."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from brain.errors import BrainError, NotFound, VaultError

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

    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"note {path!r} changed on disk since the brain read it; nothing was written. "
            "The brain has re-read it: check it (read_note) and retry if the change still applies"
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


def _stamp(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    return NoteText(id=rel[:-3], path=rel, text=data.decode("utf-8", "replace"), mtime_ns=st.st_mtime_ns, sha256=_stamp(data))


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


def _atomic_write(full: Path, data: bytes, expect_sha: str | None) -> int:
    """Replace `full` with `data` via a temp file, refusing if its bytes are no longer `expect_sha`."""
    fd, tmp = tempfile.mkstemp(prefix=".brain-", suffix=".tmp", dir=full.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if expect_sha is not None:
            try:
                os.chmod(tmp, full.stat().st_mode & 0o7777)
                current = full.read_bytes()
            except FileNotFoundError:
                current = b""
            if _stamp(current) != expect_sha:
                raise NoteChanged(full.name)
        os.replace(tmp, full)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return full.stat().st_mtime_ns


def _check_unchanged(rel: str, note: NoteText, expected_mtime_ns: int | None, expected_sha256: str | None) -> None:
    if expected_sha256 is not None and note.sha256 != expected_sha256:
        raise NoteChanged(rel)
    if expected_mtime_ns is not None and note.mtime_ns != expected_mtime_ns:
        raise NoteChanged(rel)


_FM_KEY = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_ -]*?)\s*:(?:\s|$)")


def set_frontmatter_property(text: str, key: str, value_yaml: str) -> str:
    """Text with one top-level frontmatter property set to `value_yaml`; every other byte kept."""
    nl = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"
    lines = text.splitlines(keepends=True)
    new_line = f"{key}: {value_yaml}{nl}"
    if not lines or lines[0].rstrip("\r\n").rstrip() != "---":
        return f"---{nl}{new_line}---{nl}" + text
    end = None
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n").rstrip() == "---":
            end = i
            break
    if end is None:
        raise VaultError("the note's frontmatter has no closing '---' line; fix it before setting properties")
    for i in range(1, end):
        m = _FM_KEY.match(lines[i])
        if m and m.group(1).strip().lower() == key.lower():
            j = i + 1  # the value may continue on indented lines or as a '- ' list
            while j < end and (lines[j][:1] in (" ", "\t") or lines[j].startswith("-")):
                j += 1
            return "".join(lines[:i]) + new_line + "".join(lines[j:])
    return "".join(lines[:end]) + new_line + "".join(lines[end:])


def yaml_string(value: str) -> str:
    """A value as a double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def set_owner(
    root: str | os.PathLike,
    path: str,
    owner_link: str,
    expected_mtime_ns: int | None = None,
    expected_sha256: str | None = None,
) -> WriteResult:
    """Set the `owner` frontmatter property of one note, keeping every other byte; refuses stale notes."""
    rel, full = safe_note_path(root, path)
    note = read_note_text(root, rel)
    _check_unchanged(rel, note, expected_mtime_ns, expected_sha256)
    raw = full.read_bytes()
    if _stamp(raw) != note.sha256:
        raise NoteChanged(rel)
    text = raw.decode("utf-8")
    new_text = set_frontmatter_property(text, "owner", yaml_string(owner_link))
    data = new_text.encode("utf-8")
    mtime = _atomic_write(full, data, expect_sha=note.sha256)
    return WriteResult(rel, False, mtime, _stamp(data), f"set owner of {rel[:-3]!r} to {owner_link}")


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
    text = template.replace("\r\n", "\n")
    for key, val in values.items():
        text = set_frontmatter_property(text, key, val)
    text = text.replace("{{title}}", title)
    text = re.sub(r"\{\{date(?::[^}]*)?\}\}", when.strftime("%Y-%m-%d"), text)
    text = re.sub(r"\{\{time(?::[^}]*)?\}\}", when.strftime("%H:%M"), text)
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
        return WriteResult(rel, True, full.stat().st_mtime_ns, _stamp(data), f"recorded {kind} change of {agent_name!r} in {rel!r}")
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
