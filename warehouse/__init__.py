"""The DuckDB warehouse: it owns the schema and every write.

`Warehouse.open(path)` applies the versioned migrations in `warehouse/migrations/` (each in
its own transaction, recorded in `schema_migrations`, safe to re-run). Loading goes through
Arrow tables registered with DuckDB and set-based `INSERT ... SELECT`, never row by row.
"""
from warehouse._warehouse import (
    BatchStats, Warehouse, WarehouseBusy, annotations_from, texts_to_annotate, utc_naive, utcnow,
)

__all__ = ["BatchStats", "Warehouse", "WarehouseBusy", "annotations_from", "texts_to_annotate", "utc_naive",
           "utcnow"]
