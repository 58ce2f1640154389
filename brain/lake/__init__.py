"""Past one machine: usage as a date-partitioned Parquet event lake, rolled up by DuckDB or Apache Spark, read back as rollups.

layout (where files live, the manifest both engines keep) · writer (batches into the lake through
the ingest pipeline) · prices (the rollups' price table) · duckdb_engine (the reference rollups) ·
spark_job (the same rollups on Spark, `spark-submit`-able) · catalog (the brain reading a rollups
folder). docs/lake.md is the guide.
"""
