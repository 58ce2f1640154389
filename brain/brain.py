"""Brain: the vault, its graph and the usage store joined; the one facade adapters use."""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from brain.graph import CompanyGraph
from brain.identity import AgentIdentity
from brain.settings import Settings
from brain.vault import read_vault

log = logging.getLogger(__name__)


class Brain:
    """One company brain: `graph` (CompanyGraph) from the vault, `store` (Store) opened lazily."""

    def __init__(self, settings: Settings, read_only: bool = False):
        self.settings = settings
        self.read_only = read_only
        self._lock = threading.RLock()

    @classmethod
    def open(cls, settings: Settings, read_only: bool = False) -> Brain:
        """Open a brain over an existing vault folder."""
        return cls(settings, read_only=read_only)

    @cached_property
    def vault(self):
        """The parsed vault (notes by id)."""
        return read_vault(self.settings.vault)

    @cached_property
    def graph(self) -> CompanyGraph:
        """The typed company graph built from the vault."""
        return CompanyGraph.from_vault(self.vault)

    @cached_property
    def store(self):
        """The DuckDB usage store (created with its schema on first use)."""
        from brain.store import Store

        return Store(self.settings.store_path, read_only=self.read_only)

    def identities(self) -> list[AgentIdentity]:
        """Attribution records of every agent note, read fresh from the graph."""
        return self.graph.agent_identities()

    def inventory_gaps(self) -> list:
        """Inventory gaps of the graph (usage checks join in once the store exists)."""
        return self.graph.inventory_gaps()

    def close(self) -> None:
        """Close the store connection if it was opened."""
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()
