"""``policetwin query DIR "SQL"``: DuckDB SQL over the Parquet tables of a sweep or run directory.

A sweep directory gives the table ``runs`` (one row per run; plus ``arms`` when the study has factors);
a run directory gives one table per Parquet file (``incidents``, ``units``, ``assignments``, ``nodes``,
``roads``, ``trips``, ...). Tables are views over the files (nothing is loaded before the query needs it).
SQL that DuckDB rejects is bad input (:class:`QueryError`, exit 2 with DuckDB's message).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from policetwin.errors import PoliceTwinError

#: Rows printed at most (the query's full result is still computed by DuckDB).
MAX_ROWS = 10_000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryError(PoliceTwinError):
    """The directory has no tables, or DuckDB rejected the SQL (its message)."""


def tables(directory: Path) -> dict[str, Path]:
    """The tables of a sweep (``runs``) or run directory (one per ``*.parquet``), by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise QueryError(f"{directory}: no such directory (give a sweep or run directory)")
    found = {p.name.removesuffix(".parquet"): p for p in sorted(directory.glob("*.parquet")) if p.is_file()}
    found = {name: path for name, path in found.items() if _NAME.match(name)}
    if not found:
        raise QueryError(f"{directory}: holds no Parquet tables (not a sweep or run directory)")
    return found


def _factor_columns(directory: Path) -> list[str]:
    """The factor columns a sweep's ``study.yaml`` names (none if it is missing or unreadable)."""
    import yaml

    try:
        study = yaml.safe_load((directory / "study.yaml").read_text(encoding="utf-8"))
        return [f["column"] for f in study["factors"] if _NAME.match(f["column"])]
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError):
        return []


def _quote(path: Path) -> str:
    return "'" + str(path.absolute()).replace("'", "''") + "'"


def run_query(directory: Path, sql: str, *, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Run ``sql`` over the directory's tables and return the result (at most ``max_rows`` rows)."""
    import duckdb

    found = tables(directory)
    con = duckdb.connect(":memory:")
    try:
        for name, path in found.items():
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({_quote(path)})')
        factors = _factor_columns(Path(directory)) if "runs" in found else []
        if factors:
            picks = ", ".join(f'any_value("{c}") AS "{c}"' for c in factors)
            con.execute(f"CREATE VIEW arms AS SELECT arm, {picks}, count(*) AS runs FROM runs GROUP BY arm")
        try:
            cursor = con.execute(sql)
            if cursor.description is None:  # a statement without a result (SET, CREATE, ...)
                return pd.DataFrame()
            columns = [d[0] for d in cursor.description]
            return pd.DataFrame(cursor.fetchmany(max_rows), columns=columns)
        except duckdb.Error as exc:
            raise QueryError(f"SQL: {str(exc).strip()}") from None
    finally:
        con.close()
