"""
Benchmark keyset (cursor) pagination against offset pagination on PostgreSQL.

It fills a temporary table of its own with --rows rows (one INSERT ... SELECT
from generate_series, then an index on the sort keys and ANALYZE), and asks
SQLAlchemyRepository.list() for the first page and for page --page, ordered by
a sortable column with the id breaking ties, in two ways: by cursor
(after=, the cursor of the last item of the page before) and by offset.
Every (way, page) pair is timed --repeat times in a shuffled order; the
medians are compared.
Every page is checked against the rows it must hold, worked out in Python
from the formula that filled the table; the cursor's page and the offset's
page must be the same rows.

    .venv/bin/python benchmarks/bench_keyset.py
    .venv/bin/python benchmarks/bench_keyset.py --rows 100000 --page 1000 --json

The database is --postgresql-url, else SERVICECBV_TEST_POSTGRESQL_URL.
It exits with status 1 when a page holds the wrong rows, or when the deep
page by cursor costs more than --max-ratio times the first (FAILED: ... on
stderr); the offset ratio is reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, text

from flask_servicecbv.sqlalchemy import SQLAlchemyRepository, make_engine

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection

#: The environment variable that names the database when no option does.
URL_VARIABLE = "SERVICECBV_TEST_POSTGRESQL_URL"

# The sort key of row i: spread over the table, with ties that the id breaks.
MODULUS = 100_003
FACTOR = 7_919


def score_of(i: int) -> int:
    """The score that the table's row *i* holds (see :func:`fill`)."""
    return (i * FACTOR) % MODULUS


def make_table(name: str) -> Table:
    """A temporary table: it lives as long as the connection, and no longer."""
    return Table(
        name,
        MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("score", Integer, nullable=False),
        Column("title", Text, nullable=False),
        prefixes=["TEMPORARY"],
    )


def fill(conn: Connection, table: Table, rows: int) -> float:
    """Create *table* with *rows* rows and its index; return the seconds it took."""
    started = time.perf_counter()
    table.create(conn)
    conn.execute(
        text(
            f"INSERT INTO {table.name} (id, score, title) "  # noqa: S608 -- our own name
            f"SELECT i, (i::bigint * {FACTOR}) % {MODULUS}, 'Item ' || i "
            "FROM generate_series(1, :rows) AS i"
        ),
        {"rows": rows},
    )
    conn.execute(text(f"CREATE INDEX ON {table.name} (score, id)"))
    conn.execute(text(f"ANALYZE {table.name}"))
    return time.perf_counter() - started


def expected_ids(rows: int, page: int, per_page: int) -> list[int]:
    """The ids of page *page* in the order (score, id), from the formula."""
    keys = sorted((score_of(i), i) for i in range(1, rows + 1))
    start = (page - 1) * per_page
    return [i for _, i in keys[start : start + per_page]]


def _repository(table: Table) -> type[SQLAlchemyRepository]:
    return type(
        "Items",
        (SQLAlchemyRepository,),
        {"table": table, "SORTABLE": ("score",), "DEFAULT_ORDER": ("score",)},
    )


class WrongRowsError(Exception):
    """A page holds the wrong rows."""


def runners(
    repo: SQLAlchemyRepository, rows: int, page: int, per_page: int
) -> dict[str, Callable[[], list[int]]]:
    """
    The four timed calls, by name, each checked once here against the rows
    its page must hold.

    Raises:
        WrongRowsError: A page is not the rows it must be.
    """
    order = ("score",)
    deep_offset = (page - 1) * per_page
    # The cursor of the last item of the page before: what a client that
    # walked there holds.
    [before] = repo.list(offset=deep_offset - 1, limit=1, filters={}, order=order)
    cursor = repo.cursor_of(before, order)

    def ids(**kwargs: Any) -> Callable[[], list[int]]:
        def run() -> list[int]:
            items = repo.list(limit=per_page, filters={}, order=order, **kwargs)
            return [item["id"] for item in items]

        return run

    calls = {
        "cursor/first": ids(),
        "cursor/deep": ids(after=cursor),
        "offset/first": ids(offset=0),
        "offset/deep": ids(offset=deep_offset),
    }
    wanted = {
        "first": expected_ids(rows, 1, per_page),
        "deep": expected_ids(rows, page, per_page),
    }
    for name, run in calls.items():
        got = run()
        expected = wanted[name.split("/")[1]]
        if got != expected:
            msg = f"{name}: got ids {got[:5]}..., expected {expected[:5]}..."
            raise WrongRowsError(msg)
    return calls


def measure(
    calls: dict[str, Callable[[], list[int]]], repeat: int, seed: int
) -> dict[str, list[float]]:
    """Time every call *repeat* times, in a shuffled order each round (ms)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    rng = random.Random(seed)
    for _ in range(repeat):
        rng.shuffle(order)
        for name in order:
            started = time.perf_counter_ns()
            calls[name]()
            samples[name].append((time.perf_counter_ns() - started) / 1e6)
    return samples


def summarize(samples: dict[str, list[float]]) -> dict[str, Any]:
    """Medians, and the deep page's cost over the first page's, per way."""
    medians = {name: statistics.median(times) for name, times in samples.items()}
    return {
        "median_ms": medians,
        "best_ms": {name: min(times) for name, times in samples.items()},
        "cursor_ratio": medians["cursor/deep"] / medians["cursor/first"],
        "offset_ratio": medians["offset/deep"] / medians["offset/first"],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--postgresql-url", default=os.environ.get(URL_VARIABLE))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=10_000)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--max-ratio", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(args.postgresql_url)
    try:
        with engine.connect() as conn:
            table = make_table(f"bench_keyset_{os.getpid()}")
            seconds = fill(conn, table, args.rows)
            repo = _repository(table)(conn)
            calls = runners(repo, args.rows, args.page, args.per_page)
            samples = measure(calls, args.repeat, args.seed)
            server = conn.execute(text("SHOW server_version")).scalar_one()
            conn.rollback()
    finally:
        engine.dispose()
    return {
        "environment": {
            "python": platform.python_version(),
            "postgresql": server,
            "rows": args.rows,
            "page": args.page,
            "per_page": args.per_page,
            "repeat": args.repeat,
            "fill_seconds": seconds,
        },
        "results": summarize(samples),
        "samples_ms": samples,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.postgresql_url:
        print(f"FAILED: give --postgresql-url or set {URL_VARIABLE}.", file=sys.stderr)
        return 1
    if args.page < 2 or args.page * args.per_page > args.rows:
        print(
            f"FAILED: --page {args.page} of {args.per_page} items is not a page "
            f"after the first of {args.rows} rows.",
            file=sys.stderr,
        )
        return 1
    try:
        report = _run(args)
    except WrongRowsError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    results = report["results"]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        env = report["environment"]
        print(
            f"PostgreSQL {env['postgresql']}, Python {env['python']}; "
            f"{env['rows']} rows (filled in {env['fill_seconds']:.1f} s), pages "
            f"of {env['per_page']}, page 1 vs page {env['page']}, median of "
            f"{env['repeat']} rounds."
        )
        print()
        print("| way | page 1, ms | deep page, ms | deep / first |")
        print("|---|--:|--:|--:|")
        for way in ("cursor", "offset"):
            print(
                f"| {way} | {results['median_ms'][f'{way}/first']:.3f} "
                f"| {results['median_ms'][f'{way}/deep']:.3f} "
                f"| **{results[f'{way}_ratio']:.2f}** |"
            )
    if results["cursor_ratio"] > args.max_ratio:
        print(
            f"FAILED: the deep page by cursor costs {results['cursor_ratio']:.2f} "
            f"times the first, over {args.max_ratio}.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
