"""Every table, view and column an analyst sees is documented in docs/warehouse.md."""
import re
from pathlib import Path

from warehouse import Warehouse

DOC = Path(__file__).parent.parent / "docs" / "warehouse.md"


def documented() -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^###\s+`([a-z_0-9]+)`", line)
        if heading:
            current = tables.setdefault(heading.group(1), set())
            continue
        row = re.match(r"^\|\s*([a-z_0-9]+)\s*\|", line)
        if current is not None and row and row.group(1) != "column":
            current.add(row.group(1))
    return tables


def test_every_table_and_column_is_documented(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        actual = wh.tables()
    docs = documented()
    missing = {t: sorted(set(cols) - docs.get(t, set())) for t, cols in actual.items()}
    missing = {t: cols for t, cols in missing.items() if cols}
    assert not missing, f"undocumented in docs/warehouse.md: {missing}"


def test_docs_name_no_table_that_does_not_exist(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        actual = wh.tables()
    stale = {t: sorted(cols - set(actual.get(t, []))) for t, cols in documented().items()}
    stale = {t: cols for t, cols in stale.items() if cols}
    assert not stale, f"docs/warehouse.md describes what the schema lacks: {stale}"
