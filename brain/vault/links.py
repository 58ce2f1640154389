"""Obsidian link syntax: extraction from Markdown and frontmatter, and Obsidian's resolution rules."""

from __future__ import annotations

import bisect
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from brain.names import fold


@dataclass(frozen=True)
class Link:
    """One link as written in a note; `target` is the link path without fragment ('' = self)."""

    target: str
    fragment: str | None = None  # heading text, or "^blockid"
    alias: str | None = None
    embed: bool = False
    markdown: bool = False  # [text](path) rather than [[path]]
    property: str | None = None  # frontmatter key or Dataview field the link came from
    line: int = 0  # 1-based line in the file (0 for frontmatter values)


# ---------------------------------------------------------------------------------------------
# Masking: code, inline code and %% comments %% never hold links, tags or headings.

_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})")
_SPAN_TOKEN_RE = re.compile(r"`+|%%")
# Lines that start a new block: a code span never reaches into or out of them.
_BLOCK_LINE_RE = re.compile(r"[ \t]*$| {0,3}#{1,6}(?:[ \t]|$)| {0,3}(?:[-+*]|[0-9]{1,9}[.)])(?:[ \t]|$)")
_HEADING_LINE_RE = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")


def _blank_span(text: str) -> str:
    """Spaces for a span, keeping its newlines so line numbers stay true."""
    return re.sub(r"[^\n]", " ", text)


def _mask_fences(text: str) -> str:
    lines = text.split("\n")
    fence: str | None = None
    for i, line in enumerate(lines):
        m = _FENCE_RE.match(line)
        if fence is None:
            if m:
                fence = m.group(2)
                lines[i] = " " * len(line)
        else:
            lines[i] = " " * len(line)
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) and not line.strip().strip(fence[0]):
                fence = None
    return "\n".join(lines)


def _block_starts(text: str) -> list[int]:
    """Offsets where a new block (paragraph, heading, list item) begins; blank lines end blocks."""
    starts = [0]
    pos = 0
    after_heading = False
    for line in text.split("\n"):
        if after_heading or _BLOCK_LINE_RE.match(line):
            starts.append(pos)
        after_heading = _HEADING_LINE_RE.match(line) is not None
        pos += len(line) + 1
    return starts


def _code_and_comment_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every inline code span and %% comment %%, in one left-to-right pass.

    CommonMark code spans: a backtick run is closed by the next run of the same length in the
    same block; an unclosed run is literal text. Whichever opens first wins, so `%%` inside
    code is text and backticks inside a comment are comment. An unclosed %% runs to the end.
    """
    tokens = [(m.start(), m.end()) for m in _SPAN_TOKEN_RE.finditer(text)]
    blocks = _block_starts(text) if "`" in text else [0]
    # closer[i]: the index of the next backtick run with the same length in the same block.
    closer: list[int | None] = [None] * len(tokens)
    next_comment: list[int | None] = [None] * len(tokens)
    last_run: dict[tuple[int, int], int] = {}
    last_comment: int | None = None
    for i in range(len(tokens) - 1, -1, -1):
        start, end = tokens[i]
        next_comment[i] = last_comment
        if text[start] == "%":
            last_comment = i
        else:
            key = (bisect.bisect_right(blocks, start), end - start)
            closer[i] = last_run.get(key)
            last_run[key] = i
    spans: list[tuple[int, int]] = []
    pos = 0
    for i, (start, _end) in enumerate(tokens):
        if start < pos:
            continue
        if text[start] == "%":
            j = next_comment[i]
            spans.append((start, tokens[j][1] if j is not None else len(text)))
        elif (j := closer[i]) is not None:
            spans.append((start, tokens[j][1]))
        else:
            continue  # an unclosed backtick run is literal
        pos = spans[-1][1]
    return spans


def mask_code(text: str) -> str:
    """Blank out fenced code blocks, inline code and %% comments %%, preserving offsets."""
    if "`" not in text and "~" not in text and "%%" not in text:
        return text
    if "```" in text or "~~~" in text:
        text = _mask_fences(text)
    if "`" not in text and "%%" not in text:
        return text
    out: list[str] = []
    pos = 0
    for start, end in _code_and_comment_spans(text):
        out.append(text[pos:start])
        out.append(_blank_span(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Extraction

_WIKILINK_RE = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
# [text](dest) or [text](<dest with spaces>) — text may not contain brackets at depth > 1.
_MDLINK_RE = re.compile(r"(!?)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*(<[^>\n]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"\n]*\")?\s*\)")
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Dataview inline fields: "key:: value" on its own line, or [key:: value] / (key:: value).
_DV_LINE_RE = re.compile(r"^[ \t>*+-]*+(?:\*\*|__)?([^\s:\[\]()*][^:\[\]()\n]*?)(?:\*\*|__)?::[ \t]*(.*)$", re.M)
_DV_INLINE_RE = re.compile(r"[\[(]([^\[\]()\n:]+?)::\s*([^\]\)\n]*(?:\[\[[^\]]*\]\][^\]\)\n]*)*)[\])]")


def split_link_text(inner: str) -> tuple[str, str | None, str | None]:
    """Split the inside of [[...]] into (target, fragment, alias); handles table-escaped '\\|'."""
    inner = inner.replace("\\|", "|")
    target, piped, alias_text = inner.partition("|")
    alias = (alias_text.strip() or None) if piped else None
    target, hashed, frag = target.partition("#")
    fragment = frag.strip() if hashed else None
    if fragment is not None:
        # Obsidian joins nested heading fragments with '#'; the last part is the heading.
        fragment = fragment.split("#")[-1].strip() or None
    return normalise_target(target), fragment, alias


def normalise_target(target: str) -> str:
    """Strip whitespace and a trailing .md from a link path, as Obsidian does."""
    target = target.strip()
    if target.lower().endswith(".md"):
        target = target[:-3]
    return target


def _line_of(text: str, pos: int, starts: list[int]) -> int:
    return bisect.bisect_right(starts, pos)


def extract_body_links(body: str, line_offset: int = 0) -> list[Link]:
    """All links in a Markdown body (already including frontmatter offset via line_offset)."""
    if "[" not in body:
        return []
    masked = mask_code(body)
    starts = [0] + [m.end() for m in re.finditer("\n", masked)]
    links: list[Link] = []
    dv_spans: dict[int, str] = {}
    if "::" in masked:
        for m in _DV_LINE_RE.finditer(masked):
            key = m.group(1).strip()
            if "[[" in m.group(2) or "](" in m.group(2):
                for pos in range(m.start(2), m.end(2)):
                    dv_spans[pos] = key
        for m in _DV_INLINE_RE.finditer(masked):
            key = m.group(1).strip()
            for pos in range(m.start(2), m.end(2)):
                dv_spans[pos] = key
    for m in _WIKILINK_RE.finditer(masked):
        target, fragment, alias = split_link_text(m.group(2))
        if not target and fragment is None:
            continue
        links.append(
            Link(
                target=target,
                fragment=fragment,
                alias=alias,
                embed=m.group(1) == "!",
                property=dv_spans.get(m.start()),
                line=_line_of(masked, m.start(), starts) + line_offset,
            )
        )
    if "](" in masked:
        for m in _MDLINK_RE.finditer(masked):
            dest = m.group(3)
            if dest.startswith("<"):
                dest = dest[1:-1]
            if not dest or _SCHEME_RE.match(dest) or dest.startswith("//"):
                continue
            dest = unquote(dest)
            path, hashed, frag = dest.partition("#")
            target = normalise_target(path)
            fragment = (frag.split("#")[-1].strip() or None) if hashed else None
            if not target and fragment is None:
                continue
            links.append(
                Link(
                    target=target,
                    fragment=fragment,
                    alias=m.group(2) or None,
                    embed=m.group(1) == "!",
                    markdown=True,
                    property=dv_spans.get(m.start()),
                    line=_line_of(masked, m.start(), starts) + line_offset,
                )
            )
    links.sort(key=lambda lk: lk.line)
    return links


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def extract_property_links(properties: dict) -> list[Link]:
    """Wikilinks in frontmatter values (single values and lists), tagged with their key."""
    links: list[Link] = []
    for key, value in properties.items():
        for s in _strings(value):
            if "[[" not in s:
                continue
            for m in _WIKILINK_RE.finditer(s):
                target, fragment, alias = split_link_text(m.group(2))
                if target or fragment is not None:
                    links.append(Link(target, fragment, alias, embed=m.group(1) == "!", property=str(key)))
    return links


# ---------------------------------------------------------------------------------------------
# Resolution (Obsidian's getFirstLinkpathDest)


class _PathIndex:
    """Vault paths by folded path and by folded base name (case- and NFC/NFD-insensitive lookups)."""

    def __init__(self) -> None:
        self.by_path: dict[str, str] = {}
        self.by_name: dict[str, list[str]] = defaultdict(list)

    def add(self, path: str) -> None:
        low = fold(path)
        if self.by_path.get(low) == path:
            return
        self.by_path[low] = path
        self.by_name[posixpath.basename(low)].append(path)

    def remove(self, path: str) -> None:
        low = fold(path)
        self.by_path.pop(low, None)
        base = posixpath.basename(low)
        names = self.by_name.get(base)
        if names and path in names:
            names.remove(path)
            if not names:
                del self.by_name[base]


class Resolver:
    """Resolves link paths to note ids (vault paths without .md) as Obsidian does."""

    def __init__(self, note_ids: Iterable[str] = (), other_files: Iterable[str] = ()):
        self._notes = _PathIndex()  # note ids (paths without .md), excluded notes too
        self._files = _PathIndex()  # non-note files (attachments), with their extension
        self._excluded: set[str] = set()  # folded ids of notes in Excluded files: link targets, not nodes
        for nid in note_ids:
            self.add(nid)
        for path in other_files:
            self.add_file(path)

    def add(self, note_id: str) -> None:
        """Index a note id."""
        self._notes.add(note_id)
        self._excluded.discard(fold(note_id))

    def remove(self, note_id: str) -> None:
        """Forget a note id."""
        if fold(note_id) not in self._excluded:
            self._notes.remove(note_id)

    def add_file(self, path: str) -> None:
        """Index a file that is not a note (an attachment, or a `.md` in Excluded files), so links to it are not broken."""
        if _is_md(path):
            if fold(path[:-3]) not in self._notes.by_path:
                self._notes.add(path[:-3])
                self._excluded.add(fold(path[:-3]))
        else:
            self._files.add(path)

    def has_file(self, path: str) -> bool:
        """True when a non-note file is indexed."""
        if _is_md(path):
            return fold(path[:-3]) in self._excluded and self._notes.by_path.get(fold(path[:-3])) == path[:-3]
        return self._files.by_path.get(fold(path)) == path

    def remove_file(self, path: str) -> None:
        """Forget a non-note file."""
        if _is_md(path):
            if self.has_file(path):
                self._excluded.discard(fold(path[:-3]))
                self._notes.remove(path[:-3])
        else:
            self._files.remove(path)

    def __contains__(self, note_id: str) -> bool:
        key = fold(note_id)
        return key in self._notes.by_path and key not in self._excluded

    def resolve(self, target: str, source_id: str) -> str | None:
        """The note id a link path points at from `source_id`, or None when unresolved (or excluded)."""
        hit = self._resolve_path(target, source_id)
        return None if hit is not None and self._excluded and fold(hit) in self._excluded else hit

    def _resolve_path(self, target: str, source_id: str) -> str | None:
        """Obsidian's resolution over every `.md` path, excluded notes included."""
        if not target:
            return source_id
        t = target.replace("\\", "/").strip()
        low = fold(t).lstrip("/") if t.startswith("/") else fold(t)
        src_folder = posixpath.dirname(fold(source_id))
        if low.startswith("./") or low.startswith("../"):
            rel = posixpath.normpath(posixpath.join(src_folder, low))
            return self._notes.by_path.get(rel)
        if "/" in low:
            hit = self._notes.by_path.get(low)
            if hit is not None:
                return hit
            joined = self._notes.by_path.get(posixpath.normpath(posixpath.join(src_folder, low)))
            if joined is not None:
                return joined
            # Obsidian falls back to any path ending in the given one.
            base = posixpath.basename(low)
            cands = [c for c in self._notes.by_name.get(base, ()) if fold(c).endswith("/" + low)]
            return self._pick(cands, low, src_folder)
        return self._pick(self._notes.by_name.get(low, ()), low, src_folder)

    @staticmethod
    def _pick(cands, low: str, src_folder: str) -> str | None:
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0]
        for c in cands:  # exact path from the vault root
            if fold(c) == low:
                return c
        same = [c for c in cands if posixpath.dirname(fold(c)) == src_folder]
        if same:
            return same[0]
        return min(cands, key=lambda c: (c.count("/"), len(fold(c)), fold(c)))

    def resolves_to_file(self, target: str, source_id: str) -> bool:
        """True when a link path names an existing non-note file (an attachment or an excluded note)."""
        if self._excluded:
            hit = self._resolve_path(target, source_id)
            if hit is not None and fold(hit) in self._excluded:
                return True
        low = fold(target.replace("\\", "/"))
        if low.startswith("./") or low.startswith("../"):
            low = posixpath.normpath(posixpath.join(posixpath.dirname(fold(source_id)), low))
        if low in self._files.by_path:
            return True
        base = posixpath.basename(low)
        return any(fold(f).endswith(low) for f in self._files.by_name.get(base, ()))


def _is_md(path: str) -> bool:
    return path[-3:].lower() == ".md"


def link_key(target: str) -> str:
    """The folded base name a link path can resolve through (for incremental re-resolve)."""
    key = posixpath.basename(fold(target.replace("\\", "/")))
    return key[:-3] if key.endswith(".md") else key  # an excluded note's file path keys like its links
