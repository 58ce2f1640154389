"""The common shapes of frontmatter read without the YAML loader, exactly as yaml12 reads them.

Accepted, one property per line: `key: value` where value is a plain scalar, a "double-quoted"
scalar (with YAML's escapes), a 'single-quoted' one ('' for '), or a one-line flow list
`[a, "b", 'c']` of them; and `key:` followed by `- item` lines of such scalars (a block list) or
by nothing (null). Full-line comments and blank lines are skipped. Anything else (nested
mappings, multi-line scalars, anchors, tags, comments after a value, datetimes, duplicate keys,
odd characters) returns None, and the YAML 1.2 loader decides. Plain scalars are typed by the
loader's own resolver table, so `123`, `0755`, `0o17`, `1e3`, `true`, `null`, `~`, `12:30` and
dates come out as they do there; identifier properties keep the text as written.
"""

from __future__ import annotations

import re
from functools import lru_cache

from brain.vault.yaml12 import (
    BOOL,
    FLOAT,
    INT,
    NULL,
    STR,
    TEXT_PROPERTIES,
    TIMESTAMP,
    CoreLoader,
    core_bool,
    core_float,
    core_int,
)

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +|$)")
# The commonest line, matched at once: a key and a "quoted" (no escapes), 'quoted' (no '') or simple plain value.
_SIMPLE_LINE = re.compile(
    r"([A-Za-z_][A-Za-z0-9_-]*): +(?:\"([^\"\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]*)\""
    r"|'([^'\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]*)'|([A-Za-z0-9][A-Za-z0-9_./@+-]*(?: +[A-Za-z0-9_./@+-]+)*)) *"
)
_ITEM = re.compile(r"( *)- +")
# Characters the YAML reader accepts as printable and does not treat as a line break or BOM.
_DOUBLE = re.compile(r'"((?:[^"\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]|\\.)*)"')
_SINGLE = re.compile(r"'((?:[^'\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]|'')*)'")
# A plain scalar: not starting with an indicator (a `-` only before a non-space), no `: `, ` #`
# or tab, not ending in `:` (or, inside a flow list, no `:` and no flow indicators at all).
_PLAIN_START = r"(?:[^-?:,\[\]{}#&*!|>'\"%@`\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]|-(?=[^\s]))"
_BLOCK_PLAIN = re.compile(rf"{_PLAIN_START}(?:(?!: | #|:$)[^\t\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff])*")
_FLOW_PLAIN = re.compile(rf"{_PLAIN_START}(?:(?! #)[^:,\[\]{{}}\t\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff])*")
_SPACES = re.compile(r" *")
# Characters the YAML reader refuses anywhere (comments too), or reads as line breaks.
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
    "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_ESCAPE = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))|\\(.)")
_RESOLVERS = CoreLoader.yaml_implicit_resolvers


class Unsure(Exception):
    """The fast path cannot be sure of this frontmatter; the YAML loader reads it instead."""


def _unescape(match: re.Match) -> str:
    hex_digits = match.group(1) or match.group(2) or match.group(3)
    if hex_digits is not None:
        code = int(hex_digits, 16)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise Unsure
        return chr(code)
    char = _ESCAPES.get(match.group(4))
    if char is None:
        raise Unsure
    return char


def _plain(text: str, as_text: bool):
    """A plain scalar typed by the loader's resolvers, normalised as the vault normalises it."""
    resolvers = _RESOLVERS.get(text[:1] if text else "")
    if resolvers is None and None not in _RESOLVERS:
        return text  # no implicit type starts with this character
    tag = STR
    for tag_, regexp in (resolvers or []) + _RESOLVERS.get(None, []):
        if regexp.match(text):
            tag = tag_
            break
    if tag == STR:
        return text
    if tag == NULL:
        return None
    if tag == TIMESTAMP:
        if _DATE.fullmatch(text):
            return text  # a real date becomes its ISO text again, an impossible one stays text
        raise Unsure  # datetimes: the loader's timezone handling decides
    if as_text and tag in (INT, FLOAT, BOOL):
        return text
    if tag == INT:
        return core_int(text)
    if tag == BOOL:
        return core_bool(text)
    if tag == FLOAT:
        value = core_float(text)
        return None if value != value else value  # NaN reads as empty, as in normalise_value
    raise Unsure  # the merge key `<<`, or a resolver added later


@lru_cache(maxsize=1024)
def _is_text_key(key: str) -> bool:
    """A key YAML reads as the text itself (not as null or a boolean)."""
    try:
        return _plain(key, False) == key
    except Unsure:
        return False


def _scalar(line: str, pos: int, plain: re.Pattern, as_text: bool):
    """(value, end) of the scalar starting at pos; raises Unsure."""
    first = line[pos : pos + 1]
    if first == '"':
        m = _DOUBLE.match(line, pos)
        if m is None:
            raise Unsure
        body = m.group(1)
        return (_HEX_ESCAPE.sub(_unescape, body) if "\\" in body else body), m.end()
    if first == "'":
        m = _SINGLE.match(line, pos)
        if m is None:
            raise Unsure
        return m.group(1).replace("''", "'"), m.end()
    m = plain.match(line, pos)
    if m is None:
        raise Unsure
    return _plain(m.group().rstrip(" "), as_text), m.end()


def _flow_list(line: str, pos: int, as_text: bool) -> list:
    """The one-line flow list `[a, "b", 'c']` starting at pos (the rest of the line); raises Unsure."""
    items: list = []
    pos = _SPACES.match(line, pos + 1).end()  # type: ignore[union-attr]
    if line[pos : pos + 1] == "]":
        end = pos + 1
    else:
        while True:
            value, pos = _scalar(line, pos, _FLOW_PLAIN, as_text)
            items.append(value)
            pos = _SPACES.match(line, pos).end()  # type: ignore[union-attr]
            sep = line[pos : pos + 1]
            if sep == "]":
                end = pos + 1
                break
            if sep != ",":
                raise Unsure
            pos = _SPACES.match(line, pos + 1).end()  # type: ignore[union-attr]
    if line[end:].strip(" "):
        raise Unsure
    return items


def _value(line: str, pos: int, as_text: bool, in_block_list: bool = False):
    """The value from pos to the end of the line; raises Unsure."""
    if line[pos : pos + 1] == "[":
        if in_block_list:
            raise Unsure  # `- [a]` nests a list (and `- [[X]]` is read as a link by the vault)
        return _flow_list(line, pos, as_text)
    value, end = _scalar(line, pos, _BLOCK_PLAIN, as_text)
    if line[end:].strip(" "):
        raise Unsure
    return value


def fast_frontmatter(fm: str) -> dict | None:
    """The properties of frontmatter in the common shapes, as the YAML path gives them; None when unsure."""
    if "\r" in fm or "\t" in fm or _NOT_TEXT.search(fm):
        return None
    out: dict = {}
    block_key: str | None = None  # a `key:` with nothing after it, waiting for `- item` lines
    block_indent = -1
    try:
        for line in fm.split("\n"):
            m = _SIMPLE_LINE.fullmatch(line)
            if m is not None:
                key, double, single, plain = m.groups()
                if key in out or not _is_text_key(key):
                    return None  # a duplicate, or a key YAML reads as null or a boolean
                block_key = None
                out[key] = double if double is not None else single if single is not None else _plain(plain, key in TEXT_PROPERTIES)
                continue
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                continue
            if block_key is not None and stripped[0] == "-":
                m = _ITEM.match(line)
                if m is None or (block_indent >= 0 and len(m.group(1)) != block_indent):
                    return None
                block_indent = len(m.group(1))
                if out[block_key] is None:
                    out[block_key] = []
                out[block_key].append(_value(line, m.end(), block_key in TEXT_PROPERTIES, in_block_list=True))
                continue
            m = _KEY.match(line)
            if m is None:
                return None
            key = m.group(1)
            if key in out or not _is_text_key(key):
                return None  # a duplicate, or a key YAML reads as null or a boolean
            if m.end() == len(line) or not line[m.end() :].strip(" "):
                out[key] = None
                block_key, block_indent = key, -1
                continue
            block_key = None
            out[key] = _value(line, m.end(), key in TEXT_PROPERTIES)
    except Unsure:
        return None
    return out
