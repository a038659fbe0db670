-- Raw page bodies are stored zlib-compressed in `body_zlib` (~5x smaller for real JSON and
-- feeds, ~14x for the benchmark's pages). Verbatim bodies made each checkpoint rewrite
-- gigabytes (DuckDB rewrites the last row group of raw_pages whole, and ~120k pages share
-- one), so ingest slowed as the warehouse grew. `body` keeps the pages stored before this
-- migration, verbatim; new pages leave it null. docs/warehouse.md shows how to read both.
alter table raw_pages add column body_zlib blob;
