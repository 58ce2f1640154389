"""The DuckDB usage store: schema by ordered migrations, transactions, and the shared store a
server reads while another process writes.

database (Store, migrations, SQL helpers) · shared (SharedStore, open_store: readers beside one writer).
"""

from brain.store.database import Store
from brain.store.shared import SharedStore, open_store

__all__ = ["SharedStore", "Store", "open_store"]
