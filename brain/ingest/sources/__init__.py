"""One module per usage or cost format that is not canonical, each turning its files into canonical
events (or provider cost rows); brain.ingest.formats names them in its registry."""
