"""Domain errors: every failure the brain reports is a BrainError carrying its data."""

from __future__ import annotations


class BrainError(Exception):
    """Base of every error the brain raises on purpose; its message is one clear line."""


class NotFound(BrainError):
    """A name, note or id that does not exist; `suggestions` holds close matches."""

    def __init__(self, kind: str, name: str, suggestions: list[str] | None = None):
        self.kind = kind
        self.name = name
        self.suggestions = list(suggestions or [])
        msg = f"no {kind} named {name!r}"
        if self.suggestions:
            msg += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(msg)


class AmbiguousName(BrainError):
    """A name that matches several notes; `candidates` lists every one of them."""

    def __init__(self, name: str, candidates: list[str]):
        self.name = name
        self.candidates = sorted(candidates)
        super().__init__(
            f"{name!r} is ambiguous: it matches {', '.join(self.candidates)}; use the full path"
        )


class VaultError(BrainError):
    """The vault folder is missing, unreadable, or a path tries to leave it."""


class StoreError(BrainError):
    """The usage store cannot be opened, migrated or written."""


class StoreNeedsMigration(StoreError):
    """A store made by an older version, opened read-only: it must be opened writable once."""


class IngestError(BrainError):
    """A usage file cannot be read at all (bad format, missing columns)."""
