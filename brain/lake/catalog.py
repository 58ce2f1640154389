"""The brain reading rollups from a rollups folder (`--rollups ROLLUPS`, `BRAIN_ROLLUPS`) instead of
its own store's.

The rollups are the contract everything above them reads (spend, agent cards, anomalies, alerts,
publish, MCP), so the brain needs nothing but a usage store whose `rollup_hourly`, `rollup_daily`
and `price_models` are views over the folder's Parquet (DuckDB reads it where it lies, each query
seeing the files as they are then). That store is the *rollup catalog*, a small DuckDB file beside
the usage store (`<vault>/.brain/rollups.duckdb`, `Settings.store_path` names it): the brain opens
it as it opens any store, so every view works unchanged, and what the brain writes itself
(anomaly acknowledgements, alert deliveries) is kept there. `attach_rollups` makes it, or points
its views at another folder, at the entry points (CLI, MCP), before the brain opens it.

A migration that changes a rollup table must drop these views first; `attach_rollups` makes them
again from the new schema.
"""

from __future__ import annotations

from pathlib import Path

from brain.lake.layout import (
    PRICES,
    ROLLUP_FOLDERS,
    LakeError,
    exists,
    filesystem,
    is_url,
    rollup_columns,
)
from brain.settings import Settings

# Relations of the catalog read from the folder, and where their files are.
_VIEWS = {**{t: f"{f}/*/*.parquet" for t, f in ROLLUP_FOLDERS.items()}, "price_models": f"{PRICES}/price_models/*.parquet"}


def _location(rollups: str) -> str:
    fs, root = filesystem(rollups)
    if not exists(fs, root):
        raise LakeError(f"rollups folder {rollups} does not exist; make it with `brain rollup --lake LAKE --out {rollups}`")
    if not is_url(rollups):
        missing = [f for f in (*ROLLUP_FOLDERS.values(), PRICES) if not (Path(root) / f).is_dir()]
        if missing:
            raise LakeError(f"{rollups} holds no rollups (no {', '.join(missing)} folder); "
                            f"make them with `brain rollup --lake LAKE --out {rollups}`")
        return root
    return rollups.rstrip("/")


def view_sql(rollups: str) -> dict[str, str]:
    """The SELECT of each catalog view over a rollups folder: the columns and types of the store's
    own tables, whatever engine wrote the files."""
    root = _location(rollups)
    out = {}
    for table, files in _VIEWS.items():
        cols = ", ".join(f'"{c}"::{t} AS "{c}"' for c, t in rollup_columns(table))
        glob = f"{root}/{files}".replace("'", "''")
        out[table] = f"SELECT {cols} FROM read_parquet('{glob}', union_by_name = true, hive_partitioning = false)"
    return out


def attach_rollups(settings: Settings) -> Path:
    """Make (or re-point) the rollup catalog of `settings.rollups`; returns its path. A catalog
    already pointing there is only read; LakeError when the folder holds no rollups."""
    from brain.store.shared import open_store

    if settings.rollups is None:
        raise LakeError("no rollups folder given (--rollups or BRAIN_ROLLUPS)")
    wanted = view_sql(settings.rollups)
    path = settings.store_path
    if path.exists():
        store = open_store(path, read_only=True)
        try:
            current = dict(store.con.execute(
                "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'").fetchall())
        finally:
            store.close()
        if all(_same(current.get(t), sql) for t, sql in wanted.items()):
            return path
    store = open_store(path)
    try:
        with store.transaction() as con:
            kinds = dict(con.execute(
                "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'main'").fetchall())
            for table, sql in wanted.items():
                if kinds.get(table) == "BASE TABLE":
                    if con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)").fetchall()[0][0]:
                        raise LakeError(f"{path} is a usage store with its own {table}, not a rollup catalog")
                    con.execute(f"DROP TABLE {table}")
                con.execute(f"CREATE OR REPLACE VIEW {table} AS {sql}")
    except LakeError:
        raise
    except Exception as exc:
        import duckdb

        if isinstance(exc, duckdb.Error):
            raise LakeError(f"cannot read the rollups in {settings.rollups}: {str(exc).strip().splitlines()[0]}") from exc
        raise
    finally:
        store.close()
    return path


def _same(current: str | None, select: str) -> bool:
    """Whether a view's stored SQL is the view we would make (DuckDB keeps the statement as given)."""
    return current is not None and select in current
