"""Prices: genai-prices materialised as a price table in the store, the SQL that prices rows with
it, and vault price notes (negotiated rates, self-hosted models) applied on top.

It sits below ingest (which prices rows as they land) and costs (which applies price notes when
it reads), so it is a package of its own rather than part of costs/ (docs/internals.md).
"""
