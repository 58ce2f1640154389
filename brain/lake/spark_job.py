"""The lake's rollups on Apache Spark: the same hourly and daily rows as the DuckDB engine (and as
`brain ingest` keeps in the store), for lakes past one machine.

Run it as `brain rollup --engine spark` (a local Spark), or on a cluster:

    spark-submit --master yarn "$(python -c 'import brain.lake.spark_job as j; print(j.__file__)')" \\
        --lake s3a://acme-usage/lake --out s3a://acme-usage/rollups

Only the driver imports the brain (to price (provider, model) pairs it has not priced before);
executors run Spark SQL alone, no Python. The steps, each as the DuckDB engine takes it:

1. List the lake (Hadoop FileSystem: local, S3A, GCS, ABFS) and compare each day's files with
   the manifest: only the days that changed are read, and only their rollup folders rewritten.
2. Footers first: a file Spark cannot read as Parquet is reported with its path and skipped, the
   rest of its day rolls up (and the day stays out of the manifest, so it is reported again).
3. Dedupe per UTC day by request id, else content hash, the first copy kept
   (`duckdb_engine.FIRST_COPY_ORDER`); only rows whose key hash repeats are ranked.
4. Price against the rollups' price table, broadcast: the range join of `PRICE_JOIN_SQL`, the
   cost parts of `COST_PART_SQL`, in the same order of floating-point operations.
5. Aggregate by hour and by day: exact distinct runs, `agent_runs` as migration 0008 defines it,
   hourly token p95s interpolated exactly as DuckDB's `quantile_cont`; write each changed day's
   partition (dynamic overwrite), then the manifest.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from urllib.parse import unquote

log = logging.getLogger(__name__)

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
_SPARK_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean",
                "TIMESTAMPTZ": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp"}
COST_PARTS = ("input", "cache_read", "cache_write", "output", "reasoning", "request")


def _spark_schema(columns) -> str:
    return ", ".join(f"`{c}` {_SPARK_TYPES[t]}" for c, t in columns)


class _Hadoop:
    """The lake and rollups folders through Hadoop's FileSystem (whatever the cluster can reach)."""

    def __init__(self, spark):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str):
        p = self.jvm.org.apache.hadoop.fs.Path(path)
        return p, p.getFileSystem(self.conf)

    def exists(self, path: str) -> bool:
        p, fs = self._fs(path)
        return bool(fs.exists(p))

    def listing(self, path: str) -> list[tuple[str, str, int, bool]]:
        """(name, full path, size, is a folder) of each entry of a folder."""
        p, fs = self._fs(path)
        return [(st.getPath().getName(), st.getPath().toString(), int(st.getLen()), bool(st.isDirectory()))
                for st in fs.listStatus(p)]

    def read_text(self, path: str) -> str | None:
        p, fs = self._fs(path)
        if not fs.exists(p):
            return None
        stream = fs.open(p)
        try:
            return str(self.jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()

    def write_text(self, path: str, text: str) -> None:
        p, fs = self._fs(path)
        out = fs.create(p, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def delete(self, path: str) -> None:
        p, fs = self._fs(path)
        if fs.exists(p):
            fs.delete(p, True)


def _days(hadoop: _Hadoop, lake: str):
    """The lake's files by day, as `layout.lake_days` finds them."""
    import re

    from brain.lake.layout import LakeError, LakeFile

    if not hadoop.exists(lake):
        raise LakeError(f"event lake {lake} does not exist; write events to it first (`brain lake write {lake} FILES...`)")
    day_folder = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
    days: dict[str, list] = {}
    for name, path, _, folder in hadoop.listing(lake):
        m = day_folder.match(name)
        if folder and m:
            days[m.group(1)] = sorted(
                (LakeFile(fpath, size) for fname, fpath, size, sub in hadoop.listing(path)
                 if not sub and fname.endswith(".parquet") and not fname.startswith((".", "_"))),
                key=lambda f: f.path)
    return {d: v for d, v in sorted(days.items()) if v}


def _key(path: str) -> str:
    """A file's day folder and name: how listing and Spark's input_file_name() are matched."""
    return "/".join(unquote(path).rstrip("/").split("/")[-2:])


def _readable(spark, files: list) -> tuple[list[str], list[dict]]:
    """The files whose Parquet footers Spark reads, and the others (path, error), in one pass that
    reads footers only (no column is asked for)."""
    from pyspark.sql import functions as F

    if not files:
        return [], []
    seen = {r[0] for r in (spark.read.option("ignoreCorruptFiles", "true").parquet(*[f.path for f in files])
                           .select(F.input_file_name().alias("f")).distinct().collect())}
    seen_keys = {_key(s) for s in seen}
    good, bad = [], []
    for f in files:
        if _key(f.path) in seen_keys:
            good.append(f.path)
        else:
            log.warning("skipping %s: not a readable Parquet file", f.path)
            bad.append({"path": f.path, "error": "not a readable Parquet file (Spark could not read its footer), or it holds no rows"})
    return good, bad


def _prices(spark, hadoop: _Hadoop, out: str, events):
    """The price table, extended with the pairs of `events` it lacks (written back when it grew),
    as a Spark DataFrame to broadcast; and how many pairs were new."""
    from brain.lake.layout import PRICE_TABLES, PRICES
    from brain.lake.prices import extend_prices

    existing = {}
    for table in PRICE_TABLES:
        path = f"{out}/{PRICES}/{table}"
        existing[table] = spark.read.parquet(path).toArrow() if hadoop.exists(path) else None
    pairs = [(r[0], r[1]) for r in events.select("provider", "model").distinct().collect()]
    tables, new = extend_prices(existing, pairs)
    frames = {t: spark.createDataFrame(tables[t]) for t in PRICE_TABLES}
    if new:
        for t, df in frames.items():
            df.coalesce(1).write.mode("overwrite").parquet(f"{out}/{PRICES}/{t}")
    return frames["price_table"], new


def _dedupe(events):
    """One row per (UTC day, key): rows whose key hash is unique pass; the others are ranked."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    e = events.withColumn("_day", F.expr(f"unix_micros(`timestamp`) div {DAY_US}")) \
              .withColumn("_key", F.coalesce("event_id", "request_id"))
    e = e.withColumn("_h", F.xxhash64("_day", "_key"))
    dup = e.groupBy("_h").count().where("count > 1").select("_h")
    rest = e.join(dup, "_h", "left_anti")
    size = F.when(F.col("bucketed"), F.array(
        "requests", F.col("input_tokens") + F.col("output_tokens"), "input_tokens", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens"))
    first = Window.partitionBy("_day", "_key").orderBy(size.desc_nulls_last(), F.col("written_at").asc(), F.col("batch").asc())
    cand = e.join(dup, "_h", "left_semi").withColumn("_rn", F.row_number().over(first)).where("_rn = 1").drop("_rn")
    return rest.unionByName(cand).drop("_h", "_key")


def _priced(events, prices):
    """Events with their cost parts (NULL when unpriced) and estimate: COST_PART_SQL in Spark."""
    from pyspark.sql import functions as F

    e = events.withColumn("_us", F.expr("unix_micros(`timestamp`)")) \
        .withColumn("_pday", F.expr(f"CAST(_us div {DAY_US} AS INT)")) \
        .withColumn("_tod", F.expr(f"_us % {DAY_US}")) \
        .withColumn("_band", F.col("input_tokens").cast("double") / F.greatest(F.col("requests"), F.lit(1)))
    p = prices.withColumnRenamed("provider", "_pp").withColumnRenamed("model", "_pm")
    cond = (e["provider"].eqNullSafe(p["_pp"]) & (e["model"] == p["_pm"])
            & (e["_pday"] >= p["day_from"]) & (e["_pday"] < p["day_to"])
            & (e["_tod"] >= p["tod_from_us"]) & (e["_tod"] < p["tod_to_us"])
            & (e["_band"] > p["band_lo"]) & (e["_band"] <= p["band_hi"]))
    j = e.join(F.broadcast(p), cond, "left")
    parts = {
        "input": F.col("p_input") * (F.col("input_tokens") - F.col("cache_read_tokens") * F.col("cache_read_split")
                                     - F.col("cache_write_tokens") * F.col("cache_write_split")),
        "cache_read": F.col("p_cache_read") * F.col("cache_read_tokens"),
        "cache_write": F.col("p_cache_write") * F.col("cache_write_tokens"),
        "output": F.col("p_output") * (F.col("output_tokens") - F.col("reasoning_tokens") * F.col("reasoning_split")),
        "reasoning": F.col("p_reasoning") * F.col("reasoning_tokens"),
        "request": F.col("p_request") * F.col("requests"),
    }
    for name, expr in parts.items():
        j = j.withColumn(f"_c_{name}", expr)
    total = F.col("_c_input")
    for name in COST_PARTS[1:]:
        total = total + F.col(f"_c_{name}")
    keep = ["timestamp", "agent", "api_key_id", "service_name", "provider", "model", "input_tokens", "output_tokens",
            "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "requests", "run_id", "status",
            *(f"_c_{n}" for n in COST_PARTS)]
    return j.withColumn("_cost", total).withColumn("_reported", F.col("cost_usd")).select(*keep, "_cost", "_reported")


GROUP = ("agent", "api_key_id", "service_name", "provider", "model")
TRIPLE = GROUP[:3]
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _p95(values):
    """quantile_cont(x, 0.95) of a sorted array column, as DuckDB computes it: lo + (hi - lo) * d."""
    from pyspark.sql import functions as F

    n = F.size(values)
    rn = (n - 1).cast("double") * F.lit(0.95)
    lo = F.element_at(values, (F.floor(rn) + 1).cast("int"))
    hi = F.element_at(values, (F.ceil(rn) + 1).cast("int"))
    return lo + (hi - lo) * (rn - F.floor(rn))


def _run_groups(events):
    """Events summed per (hour, combination, run): every rollup measure but the p95s adds up from
    these, and each row is one distinct run of its bucket (a NULL run id stands for its requests)."""
    from pyspark.sql import functions as F

    e = events.withColumn("hour", F.expr(f"timestamp_micros(unix_micros(`timestamp`) div {HOUR_US} * {HOUR_US})"))
    unpriced = F.col("_cost").isNull()
    return e.groupBy("hour", *GROUP, "run_id").agg(
        F.sum("requests").alias("requests"),
        F.sum(F.when(F.col("status") == "error", F.col("requests"))).alias("error_requests"),
        F.count(F.lit(1)).alias("events"),
        *(F.sum(c).alias(c) for c in TOKENS),
        *(F.sum(f"_c_{n}").alias(f"_c_{n}") for n in COST_PARTS),
        F.sum("_cost").alias("_cost"),
        F.sum(F.when(unpriced, F.col("requests"))).alias("unpriced_requests"),
        F.sum(F.when(unpriced, F.col("input_tokens") + F.col("output_tokens"))).alias("unpriced_tokens"),
        F.sum("_reported").alias("_reported"),
        F.collect_list(F.struct((F.col("input_tokens").cast("double") / F.col("requests")).alias("i"),
                                (F.col("output_tokens").cast("double") / F.col("requests")).alias("o"))).alias("_v"),
    )


def _rollup(groups, bucket: str):
    """One rollup table's rows (with `date`) from the run groups, as `brain.ingest.rollups` builds them."""
    from pyspark.sql import functions as F

    g = groups
    if bucket == "day":  # the day's distinct runs: the run groups of its hours, merged
        g = g.withColumn("day", F.date_trunc("day", "hour")).drop("hour")
        g = g.groupBy("day", *GROUP, "run_id").agg(*(F.sum(c).alias(c) for c in _SUMMED))
    null_run = F.col("run_id").isNull()
    zero = F.lit(0)
    rows = g.groupBy(bucket, *GROUP).agg(
        F.sum("requests").alias("requests"),
        F.coalesce(F.sum("error_requests"), zero).alias("error_requests"),
        (F.count("run_id") + F.coalesce(F.sum(F.when(null_run, F.col("requests"))), zero)).alias("runs"),
        F.sum("events").alias("events"),
        *(F.sum(c).alias(c) for c in TOKENS),
        *(F.coalesce(F.sum(f"_c_{n}"), F.lit(0.0)).alias(f"cost_{n}_usd") for n in COST_PARTS),
        F.coalesce(F.sum("_cost"), F.lit(0.0)).alias("cost_usd"),
        F.coalesce(F.sum("unpriced_requests"), zero).alias("unpriced_requests"),
        F.coalesce(F.sum("unpriced_tokens"), zero).alias("unpriced_tokens"),
        F.sum("_reported").alias("reported_cost_usd"),
    )
    if bucket == "hour":  # every value of the hour: the run groups' lists, flattened and sorted
        values = g.groupBy(bucket, *GROUP).agg(F.flatten(F.collect_list("_v")).alias("_v"))
        values = values.withColumn("input_tokens_p95", _p95(F.array_sort(F.transform("_v", lambda v: v["i"])))) \
                       .withColumn("output_tokens_p95", _p95(F.array_sort(F.transform("_v", lambda v: v["o"])))).drop("_v")
        rows = _join(rows, values, (bucket, *GROUP))
    # agent_runs: each (bucket, triple)'s distinct runs, on its row with the smallest (provider, model), NULLs first
    first = F.struct(F.col("provider").isNotNull(), F.coalesce("provider", F.lit("")),
                     F.col("model").isNotNull(), F.coalesce("model", F.lit("")))
    triples = (g.groupBy(bucket, *TRIPLE, "run_id").agg(F.sum(F.when(null_run, F.col("requests"))).alias("_nr"), F.min(first).alias("_f"))
               .groupBy(bucket, *TRIPLE).agg((F.count("run_id") + F.coalesce(F.sum("_nr"), zero)).alias("_agent_runs"),
                                              F.min("_f").alias("_first")))
    rows = _join(rows, triples, (bucket, *TRIPLE))
    rows = rows.withColumn("agent_runs", F.when(first == F.col("_first"), F.col("_agent_runs")).otherwise(zero))
    return rows.drop("_agent_runs", "_first").withColumn("date", F.date_format(bucket, "yyyy-MM-dd"))


_SUMMED = ("requests", "error_requests", "events", *TOKENS, *(f"_c_{n}" for n in COST_PARTS), "_cost",
           "unpriced_requests", "unpriced_tokens", "_reported")


def _join(left, right, columns):
    """`left` with the other columns of its row in `right` (NULL where none): equal `columns`, NULL
    equal to NULL."""
    from pyspark.sql import functions as F

    r = right.select(*(F.col(c).alias(f"_r_{c}") for c in columns), *(c for c in right.columns if c not in columns))
    on = None
    for c in columns:
        cond = F.col(c).eqNullSafe(F.col(f"_r_{c}"))
        on = cond if on is None else on & cond
    return left.join(r, on, "left").drop(*(f"_r_{c}" for c in columns))


def run(spark, lake: str, out: str, full: bool = False):
    """Roll up the changed days of `lake` into `out` on `spark`; a `layout.RollupReport`."""
    from pyspark.sql import functions as F

    from brain.lake.layout import (
        LAKE_COLUMNS,
        MANIFEST,
        ROLLUP_FOLDERS,
        RollupReport,
        changed_days,
        fingerprint,
        manifest_text,
        rollup_columns,
    )

    started = time.monotonic()
    for key, value in {"spark.sql.session.timeZone": "UTC", "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
                       "spark.sql.sources.partitionOverwriteMode": "dynamic"}.items():
        spark.conf.set(key, value)
    hadoop = _Hadoop(spark)
    out = out.rstrip("/")
    days = _days(hadoop, lake)
    text = hadoop.read_text(f"{out}/{MANIFEST}")
    done = dict(json.loads(text).get("days", {})) if text else {}
    rebuild, gone = changed_days(days, done, full)
    log.info("%d day(s) to roll up, %d removed, %d unchanged", len(rebuild), len(gone), len(days) - len(rebuild))
    good, skipped = _readable(spark, [f for d in rebuild for f in days[d]])
    log.info("footers read: %d file(s), %d skipped (%.1f s)", len(good), len(skipped), time.monotonic() - started)
    counts = {"events": 0, "hourly": 0, "daily": 0}
    new_pairs = 0
    written: set[str] = set()
    if good:
        events = spark.read.schema(_spark_schema(LAKE_COLUMNS)).parquet(*good)
        prices, new_pairs = _prices(spark, hadoop, out, events)
        log.info("price table: %d new pair(s) (%.1f s)", new_pairs, time.monotonic() - started)
        groups = _run_groups(_priced(_dedupe(events), prices)).persist()
        try:
            for table, folder in ROLLUP_FOLDERS.items():
                bucket = "hour" if table == "rollup_hourly" else "day"
                cols = [c for c, _ in rollup_columns(table)]
                rows = _rollup(groups if bucket == "hour" else groups.drop("_v"), bucket).select(*cols, "date").persist()
                try:
                    rows.repartition("date").write.mode("overwrite").partitionBy("date").parquet(f"{out}/{folder}")
                    stats = rows.groupBy("date").agg(F.count(F.lit(1)).alias("n"), F.sum("events").alias("e")).collect()
                finally:
                    rows.unpersist()
                counts["hourly" if bucket == "hour" else "daily"] = sum(int(r["n"]) for r in stats)
                if bucket == "day":
                    counts["events"] = sum(int(r["e"]) for r in stats)
                written |= {r["date"] for r in stats}
                log.info("%s written (%.1f s)", table, time.monotonic() - started)
        finally:
            groups.unpersist()
    for d in [*gone, *(d for d in rebuild if d not in written)]:  # days with no rows left
        for folder in ROLLUP_FOLDERS.values():
            hadoop.delete(f"{out}/{folder}/date={d}")
    bad = {s["path"] for s in skipped}
    current = {d: fp for d, fp in done.items() if d in days and d not in rebuild}
    current.update({d: fingerprint(days[d]) for d in rebuild if not any(f.path in bad for f in days[d])})
    hadoop.write_text(f"{out}/{MANIFEST}", manifest_text(current, "spark"))
    return RollupReport("spark", lake, out, tuple(rebuild), tuple(gone), len(days) - len(rebuild), counts["events"],
                        tuple(skipped), counts["hourly"], counts["daily"], new_pairs, time.monotonic() - started)


# How `brain rollup --engine spark` starts Spark when no session is running in the process.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "16",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.sql.parquet.compression.codec": "zstd",
    # collect_list (the p95s) keeps hashing past 128 groups a task instead of sorting its input
    "spark.sql.objectHashAggregate.sortBased.fallbackThreshold": "1000000",
}


def session(master: str = "local[*]", memory: str | None = None):
    """A Spark session (the process's running one, else a new one on `master`); LakeError with how to
    install when pyspark or Java is missing."""
    from brain.lake.layout import LakeError

    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise LakeError("the spark engine needs pyspark: pip install 'company-brain[spark]' (and Java 17+)") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.master(master).appName("brain-rollup")
    for key, value in {**LOCAL_CONF, "spark.driver.memory": memory or os.environ.get("BRAIN_SPARK_MEMORY", "4g")}.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # no Java: PySparkRuntimeError [JAVA_GATEWAY_EXITED]
        raise LakeError(f"cannot start Spark ({str(exc).strip().splitlines()[0]}); the spark engine needs "
                        "Java 17+ (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)") from exc


def run_local(lake: str, out: str, master: str = "local[*]", full: bool = False):
    """`brain rollup --engine spark`: the job on a Spark session of this process."""
    return run(session(master), lake, out, full=full)


USAGE = "usage: spark_job.py --lake LAKE --out ROLLUPS [--full]"


def _arguments(argv: list[str]) -> dict:
    """--lake, --out and --full from the command line (the core takes no argparse: see docs/internals.md)."""
    out: dict = {"full": False}
    it = iter(argv)
    for arg in it:
        name, _, value = arg.partition("=")
        if name == "--full" and not value:
            out["full"] = True
        elif name in ("--lake", "--out"):
            out[name[2:]] = value or next(it, None)
        else:
            raise SystemExit(f"{USAGE}\nunknown argument {arg!r}")
    if not out.get("lake") or not out.get("out"):
        raise SystemExit(f"{USAGE}\n--lake and --out are required")
    return out


def main(argv: list[str] | None = None) -> int:
    """The `spark-submit` entry: `spark_job.py --lake LAKE --out ROLLUPS [--full]`; prints the report as JSON."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from brain.errors import BrainError

    try:
        report = run(session(), args["lake"], args["out"], full=args["full"])
    except BrainError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
