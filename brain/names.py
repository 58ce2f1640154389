"""How names are compared: one fold for note names, aliases, agent ids and keys, used alike by the
vault's link resolver and by cost attribution."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """The form names are matched in: NFC (macOS file names are NFD) and lower-case."""
    return text.lower() if text.isascii() else unicodedata.normalize("NFC", text).lower()
