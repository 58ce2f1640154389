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
    # A rollups folder (or object-store URL; a Path would turn `s3://b` into `s3:/b`) whose Parquet
    # rollups the brain reads instead of its store's (brain.lake.catalog, docs/lake.md).
    rollups: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        """The DuckDB usage store: `--store`/`BRAIN_STORE`, else `<vault>/.brain/usage.duckdb`; with
        `rollups`, the rollup catalog beside it (`rollups.duckdb`: views over the folder's Parquet)."""
        store = self.store if self.store is not None else self.vault / ".brain" / "usage.duckdb"
        return store.with_name("rollups.duckdb") if self.rollups is not None else store

    def vault_problem(self, explicit: bool) -> str | None:
        """Why the vault folder is not one to read, or None. A folder with `.obsidian/` (or a
        `.brain/` store) is a vault; one named on purpose (--vault, BRAIN_VAULT) may also be a plain
        folder of notes. The current folder taken by default must be a vault: read otherwise, a
        repository or a home folder is crawled as if its every Markdown file were a note."""
        root = self.vault
        if (root / ".obsidian").is_dir() or (root / ".brain").is_dir():
            return None
        if explicit and _has_notes(root):
            return None
        where = f"{root} is not a vault" if explicit else f"the current folder ({root}) is not a vault"
        vaults = sorted(p.name for p in _subfolders(root) if (p / ".obsidian").is_dir())
        hint = f"; vaults in it: {', '.join(vaults[:3])} (--vault {vaults[0]})" if vaults else ""
        return (f"{where}: it has no .obsidian/ folder{'' if not explicit else ' and no notes'}{hint}; "
                "pass --vault PATH (or set BRAIN_VAULT), or make a vault with `brain init PATH`")

    @classmethod
    def from_env(cls, vault: str | os.PathLike | None = None, store: str | os.PathLike | None = None,
                 rollups: str | None = None) -> Settings:
        """Build settings from explicit values, falling back to BRAIN_VAULT / BRAIN_STORE / BRAIN_ROLLUPS / cwd."""
        v = vault or os.environ.get("BRAIN_VAULT") or "."
        s = store or os.environ.get("BRAIN_STORE") or None
        r = rollups or os.environ.get("BRAIN_ROLLUPS") or None
        return cls(vault=Path(v).expanduser().resolve(), store=Path(s).expanduser().resolve() if s else None,
                   rollups=r if r is None or "://" in r else str(Path(r).expanduser().resolve()))


def _subfolders(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


def _has_notes(root: Path) -> bool:
    """Markdown notes at the folder's top or one folder down (where a vault keeps them)."""
    return any(root.glob("*.md")) or any(any(p.glob("*.md")) for p in _subfolders(root))
