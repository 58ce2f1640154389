"""One settings object, built at the entry points (CLI, MCP) and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where the vault and the usage store live, and the knobs the core reads."""

    vault: Path
    store: Path | None = None
    publish_folder: str = "Brain"
    extra: dict = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        """The DuckDB usage store: `--store`/`BRAIN_STORE`, else `<vault>/.brain/usage.duckdb`."""
        return self.store if self.store is not None else self.vault / ".brain" / "usage.duckdb"

    @classmethod
    def from_env(cls, vault: str | os.PathLike | None = None, store: str | os.PathLike | None = None) -> Settings:
        """Build settings from explicit values, falling back to BRAIN_VAULT / BRAIN_STORE / cwd."""
        v = vault or os.environ.get("BRAIN_VAULT") or "."
        s = store or os.environ.get("BRAIN_STORE") or None
        return cls(vault=Path(v).expanduser().resolve(), store=Path(s).expanduser().resolve() if s else None)
