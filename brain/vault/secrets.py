"""Spot API secrets pasted into notes; report them masked, never in full."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# (kind, pattern). Key *ids* such as `key_abc123` or `apikey_01...` are fine; secrets are not.
_PATTERNS = [
    ("Anthropic API key", re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,}")),
    ("OpenAI API key", re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
]


@dataclass(frozen=True)
class SecretHit:
    """A secret-looking value: its kind, where it was, and a masked form."""

    kind: str
    where: str
    masked: str
    line: int | None


def mask(secret: str) -> str:
    """A masked form that identifies a value without revealing it."""
    if len(secret) <= 10:
        return secret[:2] + "…"
    return f"{secret[:6]}…{secret[-2:]} ({len(secret)} chars)"


def scan_text(text: str) -> Iterator[tuple[str, str, int]]:
    """(kind, value, 1-based line) for every secret-looking value in text."""
    if not text:
        return
    seen: set[int] = set()
    for kind, pat in _PATTERNS:
        for m in pat.finditer(text):
            if m.start() in seen:
                continue
            seen.add(m.start())
            yield kind, m.group(0), text.count("\n", 0, m.start()) + 1


def _flatten(value, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield prefix, value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v, prefix)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}")


def find_secrets(note) -> list[SecretHit]:
    """Secret-looking values in a note's properties and body."""
    hits: list[SecretHit] = []
    for key, value in note.properties.items():
        for where, s in _flatten(value, str(key)):
            for kind, val, _ in scan_text(s):
                hits.append(SecretHit(kind, f"property {where!r}", mask(val), None))
    for kind, val, line in scan_text(note.body):
        hits.append(SecretHit(kind, "the note body", mask(val), line))
    return hits
