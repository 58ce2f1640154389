"""Hourly per-agent usage (the spend.hourly_agent_series table) as dense agents x hours arrays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HOUR = np.timedelta64(1, "h")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Columns of the input contract; the p95 columns and the token detail are optional.
REQUIRED_COLUMNS = ("agent", "hour", "model", "requests", "input_tokens", "output_tokens", "cost_usd")


@dataclass(frozen=True)
class ModelRows:
    """Per (agent, hour, model) detail kept sparse for the cost decomposition."""

    agent: np.ndarray  # int agent index
    hour: np.ndarray  # int hour index
    model: np.ndarray  # int index into DenseSeries.models
    requests: np.ndarray
    tokens: np.ndarray
    cost_usd: np.ndarray


@dataclass(frozen=True)
class DenseSeries:
    """Usage as (agents x hours) float arrays; hour 0 is midnight UTC of the first day."""

    agents: tuple[str, ...]
    models: tuple[str, ...]
    start_hour: int  # hours since the Unix epoch of column 0 (a midnight)
    n_valid: int  # hours up to `until`; columns past it are the future, not zeros
    first_valid: int  # hours of the first day before `since`: unknown, not zeros
    requests: np.ndarray
    error_requests: np.ndarray
    runs: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    cost_usd: np.ndarray
    input_p95: np.ndarray
    output_p95: np.ndarray
    first_hour: np.ndarray  # (A,) first hour with any request, n_hours when none
    rows: ModelRows

    @property
    def n_hours(self) -> int:
        """Columns in the arrays: whole days."""
        return self.requests.shape[1]

    @property
    def n_days(self) -> int:
        """Whole days covered by the arrays."""
        return self.n_hours // 24

    def hour_time(self, hour_index: int) -> datetime:
        """The UTC start of a column."""
        return _EPOCH + timedelta(hours=int(self.start_hour + hour_index))

    def hour_index(self, when: datetime) -> int:
        """The column holding a moment (may fall outside the arrays)."""
        return int((when - _EPOCH) // timedelta(hours=1)) - self.start_hour

    def weekday(self, day_index: int) -> int:
        """Monday=0 weekday of a day column."""
        return (self.start_hour // 24 + day_index + 3) % 7  # 1970-01-01 was a Thursday


def numpy_of(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free integer or float Arrow column as a read-only numpy view (timestamps as their
    integer ticks), without `to_numpy`, which imports pandas (~0.3 s of every scan)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_timestamp(values.type):
        values = values.cast(pa.int64())
    if values.null_count:
        raise ValueError("numpy_of needs a column without nulls")
    dtype = _numpy_dtype(values.type)
    if not len(values):
        return np.zeros(0, dtype)
    return np.frombuffer(values.buffers()[1], dtype=dtype, count=len(values), offset=values.offset * dtype.itemsize)


def _numpy_dtype(type_: pa.DataType) -> np.dtype:
    kind = "f" if pa.types.is_floating(type_) else "u" if pa.types.is_unsigned_integer(type_) else "i"
    return np.dtype(f"{kind}{type_.bit_width // 8}")


def constant(value: str | float, type_: pa.DataType) -> pa.Scalar:
    """A string or number as an Arrow scalar built from buffers: `pa.scalar`, which a compute
    function calls on any Python value it is given, imports pandas (~0.3 s)."""
    if pa.types.is_string(type_):
        data = str(value).encode()
        buffers = [None, pa.py_buffer(np.array([0, len(data)], np.int32)), pa.py_buffer(data)]
    else:
        buffers = [None, pa.py_buffer(np.array([value], _numpy_dtype(type_)))]
    return pa.Array.from_buffers(type_, 1, buffers)[0]


def _hours_since_epoch(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int((when - _EPOCH) // timedelta(hours=1))


def _num(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(table.num_rows)
    return numpy_of(pc.fill_null(table.column(name).cast(pa.float64()), constant(0.0, pa.float64())))


def _codes(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """Distinct values of a string column (plain or dictionary-encoded) and each row's index into them."""
    encoded = pc.dictionary_encode(column.combine_chunks())  # a dictionary column as it is
    values = encoded.dictionary.to_pylist()
    if len(set(values)) != len(values):  # a dictionary may repeat values: encode them again
        encoded = pc.dictionary_encode(encoded.cast(pa.string()))
        values = encoded.dictionary.to_pylist()
    idx = numpy_of(encoded.indices)
    used = np.bincount(idx, minlength=len(values)) > 0
    if not used.all():  # and may hold values no row uses
        keep = np.flatnonzero(used)
        remap = np.zeros(len(values), dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        values, idx = [values[i] for i in keep], remap[idx]
    order = sorted(range(len(values)), key=lambda i: values[i])
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    indices = rank[idx] if len(values) else np.zeros(0, int)
    return [values[i] for i in order], indices


def dense_series(table: pa.Table, since: datetime, until: datetime) -> DenseSeries:
    """Aggregate the per-model hourly rows into agents x hours arrays between since and until."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"hourly series lacks columns: {', '.join(missing)}")
    start = _hours_since_epoch(since) // 24 * 24
    end = _hours_since_epoch(until)
    n_valid = max(end - start, 0)
    n_hours = -(-n_valid // 24) * 24

    hour = table.column("hour")
    micros = numpy_of(hour.cast(pa.timestamp("us", tz=hour.type.tz)))
    hours = micros // 3_600_000_000 - start
    keep = (hours >= 0) & (hours < n_valid)
    agents, agent_idx = _codes(table.column("agent"))
    model_col = table.column("model")
    if not (pa.types.is_dictionary(model_col.type) and "provider" not in table.column_names):
        # (a dictionary column without provider holds the labels already: `usage_series`)
        model_col = model_col.cast(pa.string())
        if "provider" in table.column_names:
            empty = constant("", pa.string())
            provider = pc.fill_null(table.column("provider").cast(pa.string()), empty)
            model_col = pc.if_else(
                pc.equal(provider, empty), model_col,
                pc.binary_join_element_wise(provider, model_col, constant("/", pa.string())),
            )
        model_col = pc.fill_null(model_col, constant("?", pa.string()))
    models, model_idx = _codes(model_col)

    agent_idx, hours, model_idx = agent_idx[keep], hours[keep], model_idx[keep]
    n_agents = len(agents)
    flat = agent_idx * n_hours + hours
    size = n_agents * n_hours

    def grid(name: str) -> np.ndarray:
        values = _num(table, name)[keep]
        return np.bincount(flat, weights=values, minlength=size).reshape(n_agents, n_hours)

    def weighted_mean(name: str, weights: np.ndarray, total: np.ndarray) -> np.ndarray:
        """Request-weighted mean over the models of an hour (p95s do not add up)."""
        values = _num(table, name)[keep] * weights
        summed = np.bincount(flat, weights=values, minlength=size).reshape(n_agents, n_hours)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, summed / total, 0.0)

    row_requests = _num(table, "requests")[keep]
    requests = grid("requests")
    input_tokens = grid("input_tokens")
    output_tokens = grid("output_tokens")
    cost = grid("cost_usd")
    active = requests > 0
    first_hour = np.where(active.any(axis=1), active.argmax(axis=1), n_hours)
    rows = ModelRows(
        agent=agent_idx,
        hour=hours,
        model=model_idx,
        requests=row_requests,
        tokens=(_num(table, "input_tokens") + _num(table, "output_tokens"))[keep],
        cost_usd=_num(table, "cost_usd")[keep],
    )
    return DenseSeries(
        agents=tuple(str(a) for a in agents),
        models=tuple(str(m) for m in models),
        start_hour=start,
        n_valid=n_valid,
        first_valid=min(_hours_since_epoch(since) - start, n_valid),
        requests=requests,
        error_requests=grid("error_requests"),
        runs=grid("runs"),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        input_p95=weighted_mean("input_tokens_p95", row_requests, requests),
        output_p95=weighted_mean("output_tokens_p95", row_requests, requests),
        first_hour=first_hour,
        rows=rows,
    )
