"""Run the ready-made DuckDB queries of ``docs/queries/`` over a wirewatch output folder and print tables.

    python -m pipelines.query --output out/                       # every query
    python -m pipelines.query --output out/ rejects_by_reason     # one (or several) by name
    python -m pipelines.query --list

Each query is a plain SQL file with an ``{output}`` placeholder, so it can also be pasted into
any DuckDB shell. DuckDB reads local folders directly; for a ``gs://`` output the files each
query names are first copied to a temporary folder through Beam's FileSystems (DuckDB's own
``gs://`` support needs its httpfs extension, which is downloaded on demand).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

QUERIES_DIR = Path(__file__).resolve().parents[1] / "docs" / "queries"
PLACEHOLDER = "{output}"
_OUTPUT_GLOB = re.compile(r"'\{output\}/([^']*)'")


def available_queries(folder: Path = QUERIES_DIR) -> dict[str, Path]:
    """Query name -> SQL file, for every ``*.sql`` in ``folder``."""
    return {p.stem: p for p in sorted(folder.glob("*.sql"))}


def describe(sql: str) -> str:
    """The query's first comment line: what it answers."""
    first = sql.lstrip().splitlines()[0] if sql.strip() else ""
    return first[2:].strip() if first.startswith("--") else ""


def render(sql: str, output: str) -> str:
    """``sql`` with ``{output}`` replaced by the folder, quoted for a SQL string literal."""
    return sql.replace(PLACEHOLDER, output.rstrip("/").replace("'", "''"))


def output_globs(sql: str) -> list[str]:
    """The file globs a query reads, relative to the output folder."""
    return _OUTPUT_GLOB.findall(sql)


def mirror(output: str, globs: Sequence[str], folder: Path) -> int:
    """Copy the files of ``output`` (e.g. ``gs://``) matching ``globs`` into ``folder``; return how many."""
    from apache_beam.io.filesystems import FileSystems

    import transforms.gcs  # noqa: F401  (anonymous clients when STORAGE_EMULATOR_HOST is set)

    base = output.rstrip("/")
    copied = 0
    for pattern in globs:
        for match in FileSystems.match([f"{base}/{pattern}"]):
            for meta in match.metadata_list:
                target = folder / meta.path[len(base) + 1:]
                target.parent.mkdir(parents=True, exist_ok=True)
                with FileSystems.open(meta.path, compression_type="uncompressed") as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                copied += 1
    return copied


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of one query."""
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    return columns, cursor.fetchall()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        bool(rows) and all(_is_number(r[i]) or r[i] is None for r in rows) for i in range(len(widths))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))

    out = [line(columns), "  ".join("-" * w for w in widths), *(line(r) for r in cells)]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(s.rstrip() for s in out)


def run_named(name: str, sql: str, output: str, con: duckdb.DuckDBPyConnection) -> str:
    """The printed result of one query: title, description, then the table or why there is none."""
    title = f"== {name} ==  {describe(sql)}".rstrip()
    try:
        columns, rows = run_query(con, render(sql, output))
    except duckdb.IOException as exc:
        if "No files found" not in str(exc):
            raise
        return f"{title}\n(no data yet: {str(exc).splitlines()[0]})"
    return f"{title}\n{format_table(columns, rows)}"


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.query") -> int:
    queries = available_queries()
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="out", help="output folder or gs:// prefix of the batch job (default: out)")
    parser.add_argument("--list", action="store_true", help="list the queries and exit")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"queries to run (default: all): {', '.join(queries)}")
    args = parser.parse_args(argv)
    if args.list:
        for name, path in queries.items():
            print(f"{name:<28} {describe(path.read_text(encoding='utf-8'))}")
        return 0
    unknown = [n for n in args.names if n not in queries]
    if unknown:
        print(f"error: unknown query {', '.join(unknown)}; expected one of {', '.join(queries)}", file=sys.stderr)
        return 2
    selected = {n: queries[n].read_text(encoding="utf-8") for n in (args.names or queries)}
    output = args.output
    with tempfile.TemporaryDirectory(prefix="wirewatch-query-") as scratch:
        if "://" in output:
            globs = sorted({g for sql in selected.values() for g in output_globs(sql)})
            mirror(output, globs, Path(scratch))
            output = scratch
        elif not Path(output).is_dir():
            print(f"error: output folder {output} not found; run the batch job first (make run)", file=sys.stderr)
            return 2
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")  # print times as the records hold them
        print("\n\n".join(run_named(name, sql, output, con) for name, sql in selected.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
