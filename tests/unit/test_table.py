from __future__ import annotations

from lmsops.core.table import table_lines


def test_columns_are_as_wide_as_their_widest_cell_and_lines_end_without_spaces() -> None:
    lines = table_lines([("NAME", "STATUS"), ("catalog", "ok"), ("db", "degraded, last update paused")])
    assert lines == [
        "NAME     STATUS",
        "catalog  ok",
        "db       degraded, last update paused",
    ]


def test_no_rows_is_no_lines() -> None:
    assert table_lines([]) == []
