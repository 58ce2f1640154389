"""Company Brain: an Obsidian vault of agents, owners and tools joined with their token spend.

The public API, for scripts: `Brain` (the facade: vault + graph + usage store), `Settings`,
`ingest_files` / `ingest_table`, and the errors. Names load on first use, so `import brain`
(which every `brain` command does) stays light. The packages below hold the rest, one concern
each (docs/internals.md).
"""

from typing import TYPE_CHECKING

from brain.exports import lazy

if TYPE_CHECKING:
    from brain.errors import AmbiguousName as AmbiguousName
    from brain.errors import BrainError as BrainError
    from brain.errors import IngestError as IngestError
    from brain.errors import NotFound as NotFound
    from brain.errors import StoreError as StoreError
    from brain.errors import VaultError as VaultError
    from brain.facade import Brain as Brain
    from brain.ingest.pipeline import FileReport as FileReport
    from brain.ingest.pipeline import IngestReport as IngestReport
    from brain.ingest.pipeline import ingest_files as ingest_files
    from brain.ingest.pipeline import ingest_table as ingest_table
    from brain.settings import Settings as Settings

_EXPORTS = {
    "Brain": "brain.facade",
    "Settings": "brain.settings",
    "ingest_files": "brain.ingest.pipeline",
    "ingest_table": "brain.ingest.pipeline",
    "FileReport": "brain.ingest.pipeline",
    "IngestReport": "brain.ingest.pipeline",
    "BrainError": "brain.errors",
    "AmbiguousName": "brain.errors",
    "IngestError": "brain.errors",
    "NotFound": "brain.errors",
    "StoreError": "brain.errors",
    "VaultError": "brain.errors",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy(__name__, _EXPORTS)
