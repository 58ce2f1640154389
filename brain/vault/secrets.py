"""Spot API secrets pasted into notes; report them masked, never in full."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_URL_REST = r"[^\s\"'<>)\]]{10,}"  # the rest of a URL up to a space, quote or closing bracket
# Apprise schemes whose URL carries the service's token or webhook key in its path.
_APPRISE_SCHEMES = "|".join((
    "slack", "discord", "msteams", "workflows?", "tgram", "ntfys?", "pover", "pushover", "gotifys?", "matrixs?",
    "mmosts?", "rockets?", "signals?", "opsgenie", "pagerduty", "pbul", "join", "twilio", "gchat", "zulip",
    "lametric", "spush", "ifttt", "apprises?",
))

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
    # Alert channel URLs (brain.alerts.channels): whoever has one can post to the channel. A note
    # names a channel (`notify: finops-slack`); its URL belongs in the environment or the channels file.
    ("Slack webhook URL", re.compile(r"https?://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/" + _URL_REST)),
    ("Discord webhook URL", re.compile(
        r"https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]{20,}")),
    ("Teams webhook URL", re.compile(
        r"https?://(?:[A-Za-z0-9-]+\.)*(?:webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)/"
        + _URL_REST)),
    ("Teams workflow URL", re.compile(r"https?://[A-Za-z0-9.-]+\.logic\.azure\.com[^\s\"'<>)\]]*[?&]sig=[\w%-]{20,}")),
    ("Telegram bot token", re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b")),
    ("ntfy access token", re.compile(r"\btk_[A-Za-z0-9]{29}\b")),
    ("Apprise channel URL", re.compile(rf"\b(?:{_APPRISE_SCHEMES})://" + _URL_REST)),
    ("password in a URL", re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@\"'<>\[\]]+:[^\s/@\"'<>\[\]]+@[^\s\"'<>)\]]+")),
    ("token in a URL", re.compile(
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]*[?&](?:token|pass|password|apikey|api_key|key|secret)=[^\s&\"'<>]{6,}",
        re.IGNORECASE)),
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
    seen: list[tuple[int, int]] = []  # spans reported: a match inside one (a token in its URL) is the same secret
    for kind, pat in _PATTERNS:
        for m in pat.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in seen):
                continue
            seen.append(m.span())
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
