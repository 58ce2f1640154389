"""Set one frontmatter property in a note's text, keeping every other byte, checked by the vault reader."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from brain.errors import VaultError
from brain.vault.reader import parse_frontmatter, split_frontmatter

_FM_KEY = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_ -]*?)\s*:(?:\s|$)")
_BOM = "\ufeff"


@dataclass(frozen=True)
class PropertyEdit:
    """The edited text, and how many lines set the property before (a repeated key: the last one was changed)."""

    text: str
    times_set_before: int


def yaml_string(value: str) -> str:
    """A value as a double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def property_key(name: str) -> str:
    """A property name as the graph folds it into a relation (`Owner`, `owner ` -> `owner`)."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _lines(text: str) -> list[str]:
    """Lines split on '\\n' only, endings kept: the reader splits there, not on a lone '\\r' or U+2028."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _ending(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n" if line.endswith("\n") else ""


def trailing_comment(value: str) -> str:
    """The `  # comment` that ends a one-line YAML value (with the blanks before it), or ''."""
    quote = None
    prev = ""  # the last non-blank character outside quotes: a quote opens a scalar only after these
    i = 0
    while i < len(value):
        c = value[i]
        if quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = None
        elif quote == "'":
            if c == "'" and value[i + 1 : i + 2] == "'":
                i += 1
            elif c == "'":
                quote = None
        elif c in "\"'" and prev in ("", "[", "{", ",", ":"):
            quote = c
        elif c == "#" and (i == 0 or value[i - 1] in " \t"):
            return value[len(value[:i].rstrip(" \t")) :]
        if quote is None and c not in " \t":
            prev = c
        i += 1
    return ""


def edit_property(text: str, key: str, value_yaml: str) -> PropertyEdit:
    """Text with one top-level frontmatter property set to `value_yaml`; every other byte kept.

    Frontmatter is found exactly as the vault reader finds it (after a BOM, which stays first);
    a note the reader sees without frontmatter gets one. The value's whole block (indented,
    list or blank continuation lines) is replaced; a trailing `# comment` and the line's own
    ending are kept. A repeated key: the last one, the one the reader keeps, changes. The result
    is read back and refused (VaultError) unless it reads as `value_yaml` with all else the same.
    """
    rest = text.lstrip(_BOM)
    bom = text[: len(text) - len(rest)]
    lines = _lines(rest)
    fm, _, _ = split_frontmatter(rest.replace("\r\n", "\n"))
    if fm is None:
        nl = _ending(lines[0]) if lines and _ending(lines[0]) else "\n"
        new = PropertyEdit(f"{bom}---{nl}{key}: {value_yaml}{nl}---{nl}{rest}", 0)
        _check_edit(text, new.text, key, value_yaml)
        return new
    end = 1 + fm.count("\n")  # index of the closing '---' line
    matches = []
    for i in range(1, end):
        m = _FM_KEY.match(lines[i])
        if m and property_key(m.group(1)) == property_key(key):
            matches.append((i, m))
    if not matches:
        nl = _ending(lines[0]) or "\n"
        out = "".join(lines[:end]) + f"{key}: {value_yaml}{nl}" + "".join(lines[end:])
    else:
        i, m = matches[-1]
        line = lines[i]
        nl = _ending(line)
        comment = trailing_comment(line[line.index(":", m.end(1)) + 1 :].rstrip("\r\n"))
        j = i + 1  # the value may go on as indented lines, a '- ' list, and blank lines inside a block
        while j < end and (lines[j][:1] in (" ", "\t") or lines[j].startswith("-") or not lines[j].strip()):
            j += 1
        while j > i + 1 and not lines[j - 1].strip():
            j -= 1  # blank lines after the value belong to the layout, not to it
        out = "".join(lines[:i]) + f"{m.group(1)}: {value_yaml}{comment}{nl}" + "".join(lines[j:])
    _check_edit(text, bom + out, key, value_yaml)
    return PropertyEdit(bom + out, len(matches))


def set_frontmatter_property(text: str, key: str, value_yaml: str) -> str:
    """Text with one top-level frontmatter property set to `value_yaml` (see edit_property)."""
    return edit_property(text, key, value_yaml).text


def _read(text: str) -> tuple[dict, str | None, str]:
    """(properties, YAML error, body) as the vault reader sees the text."""
    fm, body, _ = split_frontmatter(text.replace("\r\n", "\n").lstrip(_BOM))
    props, error, _ = parse_frontmatter(fm) if fm is not None else ({}, None, None)
    return props, error, body


def _check_edit(before: str, after: str, key: str, value_yaml: str) -> None:
    """Refuse an edit the reader would not see as intended: the value set, nothing else changed."""
    old_props, old_error, old_body = _read(before)
    new_props, new_error, new_body = _read(after)
    if new_error:
        raise VaultError(f"the note's frontmatter cannot be read ({new_error}); fix it before setting {key!r}")
    wanted = parse_frontmatter(f"{key}: {value_yaml}\n")[0].get(key)
    fold = property_key(key)
    spellings = [k for k in new_props if property_key(k) == fold]
    if not spellings:
        raise VaultError(f"cannot set {key!r}: the note's frontmatter does not read it back; nothing was written")
    if any(new_props[k] != wanted for k in spellings):
        raise VaultError(
            f"cannot set {key!r}: the note's frontmatter sets it more than once under different spellings "
            f"({', '.join(repr(k) for k in spellings)}); keep one and retry"
        )
    others_same = old_error is not None or (
        {k: v for k, v in old_props.items() if property_key(k) != fold}
        == {k: v for k, v in new_props.items() if property_key(k) != fold}
    )
    if not others_same or new_body != old_body:
        raise VaultError(f"setting {key!r} would change more of the note than that property; nothing was written")
