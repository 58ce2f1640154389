"""Read an Obsidian vault: notes with normalised frontmatter, links, tags, aliases, headings.

Over 400 lines on purpose: the walk (what Obsidian skips) and the note parser are the one place
Obsidian's reading rules run through, and the load cache fingerprints this module to know when
those rules changed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from brain.errors import VaultError
from brain.vault.frontmatter_fast import fast_frontmatter
from brain.vault.links import Link, extract_body_links, extract_property_links, mask_code
from brain.vault.yaml12 import load_yaml

log = logging.getLogger(__name__)

NOTE_TYPES = ("agent", "tool", "integration", "person", "team", "change", "price")
# Node types besides NOTE_TYPES: "note" (anything else), "ghost" (unresolved link target) and
# "template" (a note in Obsidian's templates folder: a pattern, never a company record).
FOLDER_TYPES = {
    "agents": "agent",
    "tools": "tool",
    "integrations": "integration",
    "people": "person",
    "teams": "team",
    "changes": "change",
    "prices": "price",
}
ALWAYS_SKIPPED = (".obsidian", ".brain", ".trash")
HUGE_NOTE_BYTES = 5 * 2**20  # a note over 5 MB is still read, and reported as a warning


@dataclass(frozen=True)
class Note:
    """One Markdown note; `id` is its vault path without `.md`."""

    id: str
    path: str  # vault-relative POSIX path with .md
    type: str
    properties: dict
    body: str
    links: tuple[Link, ...]
    tags: tuple[str, ...]
    aliases: tuple[str, ...]
    headings: tuple[str, ...]
    block_ids: tuple[str, ...]
    error: str | None = None
    error_line: int | None = None
    mtime_ns: int = 0
    size: int = 0

    @property
    def name(self) -> str:
        """The note name: its file name without `.md`."""
        return self.id.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        """The vault-relative folder ('' at the root)."""
        return self.id.rsplit("/", 1)[0] if "/" in self.id else ""


@dataclass(frozen=True)
class VaultIssue:
    """A file that could not be read as it should; the rest of the vault still loads."""

    path: str
    message: str
    line: int | None = None
    severity: str = "error"  # or "warning": the file was read in full, but something is off
    kind: str | None = None  # the gap kind for `brain check` (None: worked out from the message)


@dataclass
class Vault:
    """Every note of a vault folder, the other files links may point at, and read issues."""

    root: Path
    notes: dict[str, Note] = field(default_factory=dict)
    # Files links may resolve to that are not nodes: attachments, and every file (notes too) in
    # Obsidian's Excluded files, which Obsidian hides from search and graph but still links to.
    files: list[str] = field(default_factory=list)
    issues: list[VaultIssue] = field(default_factory=list)
    ignore_filters: tuple[str, ...] = ()
    templates: str | None = None  # Obsidian's templates folder: its notes get type "template"


# ---------------------------------------------------------------------------------------------
# Frontmatter


def normalise_value(value):
    """YAML-typed values back to JSON-able ones: dates -> ISO strings, [[X]] lists -> '[[X]]'."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): normalise_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Unquoted `owner: [[Ada]]` is YAML for a nested list; read it as the link it meant.
        if len(value) == 1 and isinstance(value[0], list) and len(value[0]) == 1 and isinstance(value[0][0], str):
            return f"[[{value[0][0]}]]"
        return [normalise_value(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def split_frontmatter(text: str) -> tuple[str | None, str, int]:
    """Split text into (yaml or None, body, line number where the body starts, 0-based)."""
    if not text.startswith("---"):
        return None, text, 0
    first_nl = text.find("\n")
    if first_nl == -1 or text[:first_nl].rstrip() != "---":
        return None, text, 0
    m = re.search(r"^---[ \t]*$", text[first_nl + 1 :], re.M)
    if m is None:
        return None, text, 0
    fm = text[first_nl + 1 : first_nl + 1 + m.start()]
    body_start = first_nl + 1 + m.end()
    if text[body_start : body_start + 1] == "\n":
        body_start += 1
    return fm, text[body_start:], text.count("\n", 0, body_start)


def parse_frontmatter(fm: str) -> tuple[dict, str | None, int | None]:
    """Parse YAML frontmatter as YAML 1.2 (like Obsidian); returns (props, error, line)."""
    if not fm.strip():
        return {}, None, None
    fast = fast_frontmatter(fm)
    if fast is not None:
        return fast, None, None
    try:
        data = load_yaml(fm)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for the '---' line, +1 for 1-based
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return {}, f"broken YAML frontmatter at line {line}: {problem}", line
    if data is None:
        return {}, None, None
    if not isinstance(data, dict):
        return {}, f"frontmatter is a {type(data).__name__}, not a mapping of properties", 2
    return {str(k): normalise_value(v) for k, v in data.items()}, None, None


# ---------------------------------------------------------------------------------------------
# Tags, aliases, headings

_TAG_RE = re.compile(r"(?:^|(?<=\s))#([^\s#!\"$%&'()*+,.:;<=>?@\[\\\]^`{|}~]+)", re.M)
# The heading text runs to the end of the line; its closing #s are stripped in Python, because
# a lazy `(.*?)[ \t#]*$` is quadratic on a long run of # or spaces.
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*)$", re.M)
_BLOCK_RE = re.compile(r"(?:^|\s)\^([A-Za-z0-9-]+)[ \t]*$", re.M)


def _clean_tag(tag: str) -> str | None:
    tag = tag.strip().lstrip("#").strip("/").lower()
    if not tag or tag.replace("/", "").replace("-", "").replace("_", "").isdigit():
        return None
    return tag


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[,\s]+", value) if v]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


# Obsidian's frontmatter keys for tags and aliases, in any case (`Tags:`, `TAG:`, `Alias:`).
_TAGS_KEY = re.compile(r"tags?", re.I)
_ALIASES_KEY = re.compile(r"alias(?:es)?", re.I)


def note_tags(properties: dict, masked_body: str) -> tuple[str, ...]:
    """Tags from frontmatter (`tags`/`tag`, any case) and inline `#tags`: lower-case, nested, not numeric."""
    raw = [t for key, value in properties.items() if _TAGS_KEY.fullmatch(key) for t in _as_list(value)]
    raw += _TAG_RE.findall(masked_body) if "#" in masked_body else []
    seen: dict[str, None] = {}
    for t in raw:
        c = _clean_tag(t)
        if c:
            seen[c] = None
    return tuple(seen)


def note_aliases(properties: dict) -> tuple[str, ...]:
    """Aliases from `aliases` / `alias`, any case (a list, or a comma-separated string)."""
    out: list[str] = []
    for key, value in properties.items():
        if not _ALIASES_KEY.fullmatch(key):
            continue
        if isinstance(value, str):
            out += [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            out += [str(v).strip() for v in value if v is not None and str(v).strip()]
    return tuple(dict.fromkeys(out))


def note_type(properties: dict, note_id: str) -> str:
    """A note's type: frontmatter `type:`, else its top folder, else 'note'."""
    declared = properties.get("type")
    if isinstance(declared, str) and declared.strip():
        t = declared.strip().lower()
        return t if t in NOTE_TYPES else "note"
    if "/" in note_id:
        return FOLDER_TYPES.get(note_id.split("/", 1)[0].lower(), "note")
    return "note"


# ---------------------------------------------------------------------------------------------
# Reading


def parse_note(note_id: str, text: str, error: str | None = None, mtime_ns: int = 0, size: int = 0) -> Note:
    """Parse one note's text; never raises on any input (errors are kept on the note)."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    fm, body, body_line = split_frontmatter(text)
    props, fm_error, fm_line = parse_frontmatter(fm) if fm is not None else ({}, None, None)
    masked = mask_code(body)
    links = extract_property_links(props) + extract_body_links(body, line_offset=body_line)
    headings = tuple(m.group(2).rstrip(" \t#").strip() for m in _HEADING_RE.finditer(masked)) if "#" in masked else ()
    blocks = tuple(_BLOCK_RE.findall(masked)) if "^" in masked else ()
    err = fm_error if fm_error else error
    return Note(
        id=note_id,
        path=note_id + ".md",
        type=note_type(props, note_id),
        properties=props,
        body=body,
        links=tuple(links),
        tags=note_tags(props, masked),
        aliases=note_aliases(props),
        headings=headings,
        block_ids=blocks,
        error=err,
        error_line=fm_line if fm_error else None,
        mtime_ns=mtime_ns,
        size=size,
    )


def decode_note_bytes(data: bytes) -> tuple[str | None, str | None]:
    """Decode a note file: (text, problem). Binary files give (None, problem)."""
    if b"\x00" in data[:8192]:
        return None, "binary file with a .md name; skipped"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return (
            data.decode("utf-8", "replace"),
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "read with replacement characters",
        )


def read_note_file(
    root: Path, rel_path: str, templates: str | None = None, walked: bool = False
) -> tuple[Note | None, VaultIssue | None]:
    """Read one `.md` file of the vault; a problem is returned as a VaultIssue, never raised.

    (None, None) when the path goes through a symlink Obsidian does not follow (see walk_vault);
    `walked` says the path came from walk_vault, which already checked that.
    """
    if not walked and goes_through_inner_symlink(root, rel_path):
        return None, None
    full = root / rel_path
    try:
        st = full.stat()
        data = full.read_bytes()
    except OSError as exc:
        return None, VaultIssue(rel_path, f"cannot read: {exc.strerror or exc}")
    text, problem = decode_note_bytes(data)
    note_id = rel_path[:-3]
    if text is None:
        return None, VaultIssue(rel_path, problem or "unreadable")
    note = parse_note(note_id, text, error=problem, mtime_ns=st.st_mtime_ns, size=st.st_size)
    if templates and note_id.lower().startswith(templates.lower() + "/"):
        note = replace(note, type="template")  # Obsidian templates are patterns, not company notes
    issue = VaultIssue(rel_path, note.error, note.error_line) if note.error else None
    if len(data) > HUGE_NOTE_BYTES:
        huge = f"huge note ({len(data) / 2**20:.1f} MB, over {HUGE_NOTE_BYTES // 2**20} MB): read in full, but it slows every load"
        issue = replace(issue, message=f"{issue.message}; {huge}") if issue else VaultIssue(rel_path, huge, None, "warning", "huge_note")
    return note, issue


def load_ignore_filters(root: Path) -> tuple[str, ...]:
    """Obsidian's 'Excluded files' (`userIgnoreFilters` in .obsidian/app.json)."""
    app = root / ".obsidian" / "app.json"
    try:
        data = json.loads(app.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    filters = data.get("userIgnoreFilters") if isinstance(data, dict) else None
    return tuple(f for f in filters or () if isinstance(f, str) and f.strip())


def load_templates_folder(root: Path) -> str | None:
    """The folder of Obsidian's core Templates plugin (`.obsidian/templates.json`), if set."""
    try:
        data = json.loads((root / ".obsidian" / "templates.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    folder = data.get("folder") if isinstance(data, dict) else None
    return folder.strip().strip("/") or None if isinstance(folder, str) else None


def is_ignored(rel_path: str, filters: tuple[str, ...]) -> bool:
    """True when a vault path is hidden (dot-folder) or matched by an ignore filter."""
    parts = rel_path.split("/")
    if any(p.startswith(".") for p in parts):
        return True
    for f in filters:
        if len(f) > 2 and f.startswith("/") and f.endswith("/"):
            try:
                if re.search(f[1:-1], rel_path):
                    return True
            except re.error:
                continue
        elif rel_path.lower().startswith(f.lower().lstrip("/")):
            return True
    return False


def links_into(path: str, root_str: str) -> bool:
    """True when `path` is a symlink whose target is inside the vault or is an ancestor of it."""
    if not os.path.islink(path):
        return False
    target = os.path.realpath(path)
    return (
        target == root_str
        or target.startswith(root_str.rstrip(os.sep) + os.sep)
        or root_str.startswith(target.rstrip(os.sep) + os.sep)
    )


def goes_through_inner_symlink(root: Path, rel_path: str) -> bool:
    """True when a vault path passes through a symlink that walk_vault does not follow."""
    root_str = os.path.realpath(root)
    parts = rel_path.split("/")
    return any(links_into(os.path.join(root_str, *parts[: i + 1]), root_str) for i in range(len(parts)))


def walk_vault(
    root: Path,
    filters: tuple[str, ...],
    issues: list[VaultIssue],
    vault_root: Path | None = None,
    excluded: list[str] | None = None,
) -> Iterator[str]:
    """Yield root-relative POSIX paths of every non-ignored file, following symlinks as Obsidian does.

    Like Obsidian, a symlink whose target is inside the vault (or is a folder the vault sits in) is
    not followed: the real file is read under its real path, and an ancestor cannot pull the
    surrounding tree in. Symlinks to folders elsewhere are followed, each folder once.
    `vault_root` is the vault when `root` is one of its subfolders. Paths matched by `filters`
    (Obsidian's Excluded files) are skipped, or, when `excluded` is given, collected there.
    """
    seen_dirs: set[tuple[int, int]] = set()
    vault_str = os.path.realpath(vault_root if vault_root is not None else root)
    if vault_root is not None and goes_through_inner_symlink(vault_root, os.path.relpath(root, vault_root).replace(os.sep, "/")):
        return
    # Depth first, folders and files in name order; each entry says from the listing whether it is
    # a symlink, so only symlinks cost a system call (realpath) beyond reading the folder.
    stack: list[tuple[str, str, bool]] = [(str(root), "", False)]  # (folder, its path, in Excluded files)
    while stack:
        dirpath, rel_dir, in_excluded = stack.pop()
        try:
            st = os.stat(dirpath)
            with os.scandir(dirpath) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            if not in_excluded:
                issues.append(VaultIssue(rel_dir, "symlink loop: folder already read through another path; not followed"))
            continue
        seen_dirs.add(key)
        subdirs: list[tuple[str, str, bool]] = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            if e.name.startswith(".") or (e.is_symlink() and links_into(e.path, vault_str)):
                continue
            try:
                is_dir = e.is_dir()  # through a symlink: folders linked in from elsewhere are walked
            except OSError:
                is_dir = False
            if is_dir:
                sub_excluded = in_excluded or is_ignored(rel + "/", filters)
                if not sub_excluded or excluded is not None:
                    subdirs.append((e.path, rel, sub_excluded))
            elif in_excluded or is_ignored(rel, filters):
                if excluded is not None:
                    excluded.append(rel)
            else:
                yield rel
        stack.extend(reversed(subdirs))


# Reads one walked `.md` file: (vault root, relative path, templates folder) -> (note, issue).
NoteReader = Callable[[Path, str, "str | None"], "tuple[Note | None, VaultIssue | None]"]


def read_vault(root: str | os.PathLike, note_reader: NoteReader | None = None) -> Vault:
    """Read every note of a vault folder; bad files are reported in `issues`, never raised.

    `note_reader` replaces read_note_file for walked notes (brain.vault_cache serves unchanged ones).
    """
    root = Path(root)
    if not root.is_dir():
        raise VaultError(f"vault folder {str(root)!r} does not exist or is not a folder")
    root = root.resolve()
    vault = Vault(root=root, ignore_filters=load_ignore_filters(root), templates=load_templates_folder(root))
    excluded: list[str] = []
    for rel in walk_vault(root, vault.ignore_filters, vault.issues, excluded=excluded):
        if not rel.lower().endswith(".md"):
            vault.files.append(rel)
            continue
        if note_reader is None:
            note, issue = read_note_file(root, rel, vault.templates, walked=True)
        else:
            note, issue = note_reader(root, rel, vault.templates)
        if issue is not None:
            vault.issues.append(issue)
        if note is not None:
            vault.notes[note.id] = note
    vault.files += excluded  # Obsidian only hides Excluded files: links to them still resolve
    log.debug("read %d notes, %d other files, %d issues", len(vault.notes), len(vault.files), len(vault.issues))
    return vault
