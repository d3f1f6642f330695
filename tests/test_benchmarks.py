"""The benchmarks still run: a tiny run of each reports every variant."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sqlalchemy import postgresql_url

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parent.parent

BENCHMARKS = ["bench_core", "bench_views"]

# The smallest run the benchmarks accept: a batch of no requests would divide
# by zero, and statistics.quantiles() needs two rounds before Python 3.13.
TINY_RUN = ["--requests", "1", "--repeat", "2", "--warmup", "1"]

# Imports a benchmark as a module, which runs nothing, to list its variants.
_LIST_VARIANTS = """
import json, sys
sys.path.insert(0, "benchmarks")
import {name}
print(json.dumps([variant.name for variant in {name}.VARIANTS]))
"""

# Runs a benchmark after breaking bench_core, whose runner both use.
_RUN_BROKEN = """
import sys
sys.path.insert(0, "benchmarks")
import bench_core
{breakage}
import {name}
sys.exit({name}.main(sys.argv[1:]))
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _variants(name: str) -> list[str]:
    result = _python("-c", _LIST_VARIANTS.format(name=name))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class TestBenchmarks:
    @pytest.mark.parametrize("name", BENCHMARKS)
    def test_tiny_run(self, name):
        """
        A tiny run exits 0 and reports a time for every variant.
        """
        variants = _variants(name)

        result = _python(f"benchmarks/{name}.py", *TINY_RUN, "--json")

        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)["results"]
        assert [row["variant"] for row in rows] == variants
        assert "baseline" in variants
        for row in rows:
            assert math.isfinite(row["best_us"])
            assert row["best_us"] > 0

    @pytest.mark.parametrize("name", BENCHMARKS)
    @pytest.mark.parametrize(
        ("breakage", "message"),
        [
            ("bench_core.EXPECTED = b'wrong'", r"got 200 OK .* expected 200 b'wrong'"),
            ("bench_core._Service.close = lambda self: None", r"0 services closed"),
        ],
        ids=["wrong-body", "not-closed"],
    )
    def test_broken_run_fails(self, name, breakage, message):
        """
        A variant that answers the wrong body or does not close its services
        makes the run fail with a message, and print no results.
        """
        result = _python(
            "-c", _RUN_BROKEN.format(name=name, breakage=breakage), *TINY_RUN
        )

        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith("FAILED: g: ")
        assert re.search(message, result.stderr), result.stderr


class TestBenchImport:
    def test_tiny_run(self):
        """
        A tiny run of bench_import exits 0, reports the import's cost, and
        finds that importing the package does not load asyncio.
        """
        result = _python(
            "benchmarks/bench_import.py", "--repeat", "1", "--max-ms", "1e6", "--json"
        )

        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert 0 < out["results"]["own_median_ms"] < 1e6
        assert math.isfinite(out["results"]["ratio"])
        assert "flask_servicecbv._container" in out["samples"]["loaded"]
        assert "asyncio" not in out["samples"]["loaded"]
        assert out["samples"]["heaviest"]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--max-ms", "0"], r"took \d+\.\d ms \(median\) .* budget of 0 ms\.$"),
            (["--import", "asyncio"], r"loaded asyncio, which it must not\.$"),
            (["--import", "no_such_module"], r"exited with 1: ModuleNotFoundError"),
        ],
        ids=["over-budget", "asyncio", "broken-import"],
    )
    def test_failing_run(self, args, message):
        """
        An import over the budget, one that loads asyncio, or one that fails
        makes the run exit 1 with a FAILED line.
        """
        result = _python("benchmarks/bench_import.py", "--repeat", "1", *args)

        assert result.returncode == 1
        assert result.stderr.startswith("FAILED: ")
        assert re.search(message, result.stderr.strip()), result.stderr


# Runs bench_rest after changing its targets or its expected responses.
_RUN_REST = """
import sys
sys.path.insert(0, "benchmarks")
import bench_rest
{change}
sys.exit(bench_rest.main(sys.argv[1:]))
"""

# What a run that checks one framework's answers needs to build: the others'
# apps are not built.
ONLY_HAND = ["--only", "hand"]
ONLY_OURS = ["--only", "hand", "ours"]

# Every target met whatever the times, or none.
_ANY_TIME = "bench_rest.TARGETS = [(*t[:2], 1e9, True) for t in bench_rest.TARGETS]"
_NO_TIME = "bench_rest.TARGETS = [(*t[:2], 0.0, False) for t in bench_rest.TARGETS]"


# Replaces the hand-written app by one that {hook} changes.
_CHANGE_HAND = """
import dataclasses
from flask import request
real = bench_rest.build_hand
seen = []

def build(repository):
    app = real(repository)
    {hook}
    return app

bench_rest.FRAMEWORKS = tuple(
    dataclasses.replace(f, build=build) if f.name == "hand" else f
    for f in bench_rest.FRAMEWORKS
)
"""


def _drop(header: str, *, after: int = 0) -> str:
    """A hook that drops *header* from the responses after the first *after*."""
    return (
        "app.after_request(lambda r: (seen.append(r), len(seen) > "
        f"{after} and r.headers.pop({header!r}, None), r)[2])"
    )


class TestBenchRest:
    def test_tiny_run(self):
        """
        A tiny run with its targets met exits 0 and reports a time for each
        operation of every framework, or why the framework was skipped.
        """
        result = _python("-c", _RUN_REST.format(change=_ANY_TIME), *TINY_RUN, "--json")

        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        rows = out["results"]
        ran = {row["variant"] for row in rows}
        assert {"hand", "ours", "baseline"} <= ran
        assert ran | set(out["skipped"]) == {
            "hand",
            "hand-min",
            "ours",
            "smorest",
            "smorest-plain",
            "apiflask",
            "apiflask-plain",
            "baseline",
            "sql-hand",
            "sql-ours",
        }
        assert all(out["skipped"].values())
        assert len(rows) == 2 * len(ran)
        for row in rows:
            assert math.isfinite(row["best_us"])
            assert row["best_us"] > 0
        assert all(target["met"] is not False for target in out["targets"])

    def test_missed_target_fails(self):
        """
        A missed target makes the run exit 1 with a FAILED line naming it,
        after printing the results.
        """
        result = _python(
            "-c", _RUN_REST.format(change=_NO_TIME), *TINY_RUN, *ONLY_OURS, "--json"
        )

        assert result.returncode == 1
        assert json.loads(result.stdout)["results"]
        assert re.match(
            r"FAILED: targets missed: create ours vs hand, ", result.stderr
        ), result.stderr

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (
                "bench_rest.PAYLOAD = {**bench_rest.PAYLOAD, 'year': 0}",
                r"^FAILED: hand: POST /api/books got 201 CREATED .*'year': 0,",
            ),
            (
                "bench_rest.STORED = {**bench_rest.STORED, 'year': 0}",
                r"^FAILED: hand: GET /api/books/1 got 200 OK .*'year': 0,",
            ),
        ],
        ids=["create", "retrieve"],
    )
    def test_broken_run_fails(self, change, message):
        """
        A framework that answers a body other than the expected item makes
        the run fail with a message, and print no results.
        """
        result = _python("-c", _RUN_REST.format(change=change), *TINY_RUN, *ONLY_HAND)

        assert result.returncode == 1
        assert result.stdout == ""
        assert re.search(message, result.stderr), result.stderr

    @pytest.mark.parametrize(
        ("hook", "message"),
        [
            (
                _drop("Location"),
                (
                    r"^FAILED: hand: POST /api/books got 201 CREATED .*, expected "
                    r"Location /api/books/2\.$"
                ),
            ),
            (
                _drop("ETag"),
                (
                    r"^FAILED: hand: GET /api/books/1 got 200 OK .*, expected the "
                    r'ETag "[0-9a-f]{32}"\.$'
                ),
            ),
            (
                # Once the untimed check of If-None-Match has passed.
                _drop("ETag", after=2),
                (
                    r"^FAILED: hand: GET /api/books/1 got 200 OK .*, expected the "
                    r'ETag "[0-9a-f]{32}"\.$'
                ),
            ),
            (
                (
                    "app.before_request("
                    "lambda: request.environ.pop('HTTP_IF_NONE_MATCH', None) and None)"
                ),
                (
                    r"^FAILED: hand: GET /api/books/1 got 200 OK .*, expected 304 NOT "
                    r'MODIFIED carrying the ETag, no body, to If-None-Match: "'
                ),
            ),
        ],
        ids=["no-location", "no-etag", "etag-lost-later", "if-none-match-ignored"],
    )
    def test_missing_header_fails(self, hook, message):
        """
        A framework that sends no Location on create, no ETag on retrieve, or
        that ignores a matching If-None-Match makes the run fail with a
        message, and print no results.
        """
        change = _CHANGE_HAND.replace("{hook}", hook)
        result = _python("-c", _RUN_REST.format(change=change), *TINY_RUN, *ONLY_HAND)

        assert result.returncode == 1
        assert result.stdout == ""
        assert re.search(message, result.stderr.strip()), result.stderr


# Runs bench_auth after changing its target or what it sends.
_RUN_AUTH = """
import sys
sys.path.insert(0, "benchmarks")
import bench_auth
{change}
sys.exit(bench_auth.main(sys.argv[1:]))
"""


class TestBenchAuth:
    def test_tiny_run(self):
        """
        A tiny run with the target met whatever the times exits 0 and reports
        both operations, with and without a token.
        """
        change = "bench_auth.TARGET = ('retrieve', 1e9)"
        result = _python("-c", _RUN_AUTH.format(change=change), *TINY_RUN, "--json")

        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["met"] is True
        assert [row["operation"] for row in out["results"]] == ["create", "retrieve"]
        for row in out["results"]:
            for key in ("open_best_us", "bearer_best_us", "ratio"):
                assert math.isfinite(row[key])
                assert row[key] > 0

    def test_table(self):
        """
        Without --json the run prints a table and the verdict.
        """
        change = "bench_auth.TARGET = ('retrieve', 1e9)"
        result = _python("-c", _RUN_AUTH.format(change=change), *TINY_RUN)

        assert result.returncode == 0, result.stderr
        assert "| retrieve |" in result.stdout
        assert "Target: retrieve with a bearer token" in result.stdout
        assert result.stdout.rstrip().endswith("met.")

    def test_missed_target_fails(self):
        """
        A missed target makes the run exit 1 with a FAILED line, after
        printing the results.
        """
        change = "bench_auth.TARGET = ('retrieve', 0.0)"
        result = _python("-c", _RUN_AUTH.format(change=change), *TINY_RUN, "--json")

        assert result.returncode == 1
        assert json.loads(result.stdout)["met"] is False
        assert re.match(r"FAILED: target missed: retrieve \d", result.stderr)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (
                "bench_auth.HEADERS = {'Authorization': 'Bearer not-the-token'}",
                r"^FAILED: ours: POST /api/books got 401 UNAUTHORIZED .*invalid_token",
            ),
            (
                # An app that ignores the header: nothing would be timed.
                (
                    "bench_auth.VARIANTS = tuple(\n"
                    "    v if v.name == 'open' else bench_auth.Variant(\n"
                    "        v.name, v.label, bench_rest.build_ours)\n"
                    "    for v in bench_auth.VARIANTS)"
                ),
                r"^FAILED: bearer: GET /api/books/1 without a token got 200 OK",
            ),
        ],
        ids=["wrong-token", "no-authentication"],
    )
    def test_broken_run_fails(self, change, message):
        """
        A token the app refuses, or an app that does not authenticate, makes
        the run fail with a message, and print no results.
        """
        change = "import bench_rest\n" + change
        result = _python("-c", _RUN_AUTH.format(change=change), *TINY_RUN)

        assert result.returncode == 1
        assert result.stdout == ""
        assert re.search(message, result.stderr), result.stderr


class TestBenchOpenAPI:
    def test_tiny_run(self):
        """
        A tiny run of bench_openapi builds and serves the document of 100
        endpoints and reports the times.
        """
        result = _python(
            "benchmarks/bench_openapi.py",
            "--builds",
            "1",
            "--serves",
            "10",
            "--max-serve-ms",
            "1e6",
            "--json",
        )

        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["paths"] == 100
        assert report["operations"] == 300
        assert report["build_ms_median"] > 0
        assert report["serve_ratio"] > 0

    def test_over_budget_fails(self):
        """
        Serving over the budget fails the run.
        """
        result = _python(
            "benchmarks/bench_openapi.py",
            "--builds",
            "1",
            "--serves",
            "10",
            "--max-serve-ms",
            "0",
        )

        assert result.returncode == 1
        assert re.search(
            r"FAILED: serving took .* over the 0\.0 ms budget", result.stderr
        )


# The smallest load: a few requests from two clients, on 5 seeded rows.
TINY_LOAD = [
    *("--requests", "40", "--rounds", "2", "--clients", "2", "--workers", "1"),
    *("--warmup", "4", "--seeded", "5"),
]

# Runs bench_example after making the row check see a 201 never stored.
_RUN_EXAMPLE_LOST = """
import sys
sys.path.insert(0, "benchmarks")
import bench_example
real = bench_example.check_rows

def lost_one(url, seeded, tallies):
    tallies[0].created[10**9] = "never stored"
    return real(url, seeded, tallies)

bench_example.check_rows = lost_one
sys.exit(bench_example.main(sys.argv[1:]))
"""


class TestBenchExample:
    def test_tiny_run(self):
        """
        A tiny load on example_api and its twin under gunicorn, at the same
        time, exits 0 and reports what each server's CPU time per request and
        latency were, every 201 stored once.
        """
        result = _python(
            "benchmarks/bench_example.py", *TINY_LOAD, "--target", "1", "--json"
        )

        assert result.returncode == 0, result.stderr
        run = json.loads(result.stdout)["runs"][0]
        assert run["database"] == "sqlite"
        assert [row["app"] for row in run["results"]] == ["example", "twin"]
        for row in run["results"]:
            assert row["requests"] == 40
            assert sum(row["statuses"].values()) == 40
            assert row["cpu_ms"] > 0
            assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert run["ratio_q1"] <= run["ratio"] <= run["ratio_q3"]

    @pytest.fixture(name="bench_example")
    def _bench_example(self, monkeypatch):
        monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
        import bench_example  # noqa: PLC0415 -- a script, not a package

        return bench_example

    def test_session_cpu(self, bench_example):
        """
        A server's CPU time counts every process of its session, and only
        those.
        """
        burn = (
            "import time\n"
            "end = time.process_time() + 0.3\n"
            "while time.process_time() < end: pass\n"
            "time.sleep(30)"
        )
        child = subprocess.Popen(  # noqa: S603 -- our own interpreter
            [sys.executable, "-c", burn], start_new_session=True
        )
        try:
            deadline = time.monotonic() + 20
            spent = 0.0
            while spent < 0.3 and time.monotonic() < deadline:
                time.sleep(0.05)
                spent = bench_example.session_cpu_seconds(child.pid)
        finally:
            child.kill()
            child.wait(timeout=10)
        assert 0.3 <= spent < 5
        assert bench_example.session_cpu_seconds(child.pid) == 0

    def test_session_cpu_reads_stat(self, bench_example, tmp_path):
        """
        The times are read after the process name, whatever it holds, and
        processes gone meanwhile or of another session are skipped.
        """
        ticks = os.sysconf("SC_CLK_TCK")
        rest = "S 1 {session} {session} 0 -1 0 0 0 0 0 {utime} {stime} 0 0"
        procs = {
            "self": rest.format(session=1, utime=0, stime=0),
            "10": rest.format(session=7, utime=ticks, stime=ticks // 2),
            "11": rest.format(session=7, utime=ticks // 2, stime=0),
            "12": rest.format(session=8, utime=ticks * 9, stime=0),
        }
        names = {"self": "x", "10": "a) (b", "11": "gunicorn: worker", "12": "c"}
        for entry, fields_ in procs.items():
            (tmp_path / entry).mkdir()
            (tmp_path / entry / "stat").write_text(
                f"{entry} ({names[entry]}) {fields_}"
            )
        (tmp_path / "13").mkdir()  # gone: no stat left to read

        assert bench_example.session_cpu_seconds(7, tmp_path) == pytest.approx(2.0)

    def test_session_cpu_without_proc(self, bench_example, tmp_path):
        """Without /proc the run stops, saying why."""
        with pytest.raises(bench_example.BenchmarkError, match="needs Linux's /proc"):
            bench_example.session_cpu_seconds(1, tmp_path)

    def test_lost_row_fails(self):
        """
        A 201 whose row is not in the table makes the run fail, naming it.
        """
        result = _python("-c", _RUN_EXAMPLE_LOST, *TINY_LOAD, "--target", "1")

        assert result.returncode == 1
        assert result.stdout == ""
        assert re.search(r"^FAILED: .* lost \[1000000000\]", result.stderr)

    def test_missed_target_fails(self):
        """
        A missed target fails the run after printing the results.
        """
        result = _python("benchmarks/bench_example.py", *TINY_LOAD, "--target", "-1")

        assert result.returncode == 1
        assert "| sqlite | example |" in result.stdout
        assert result.stderr.startswith("FAILED: target missed: ")


# A small table: a few thousand rows, page 5 of 20.
TINY_KEYSET = ["--rows", "3000", "--page", "5", "--per-page", "20", "--repeat", "2"]

# Runs bench_keyset with the sort key it expects broken.
_RUN_KEYSET_WRONG = """
import sys
sys.path.insert(0, "benchmarks")
import bench_keyset
bench_keyset.score_of = lambda i: -i
sys.exit(bench_keyset.main(sys.argv[1:]))
"""


class TestBenchKeyset:
    @pytest.fixture(name="postgresql", autouse=True)
    def _postgresql(self):
        """
        The PostgreSQL test database, which the benchmark reads from the
        environment.
        """
        return postgresql_url(os.environ)

    def test_tiny_run(self):
        """
        A run on a small table exits 0 and reports the first and the deep
        page's cost by cursor and by offset, and their ratios.
        """
        result = _python(
            "benchmarks/bench_keyset.py", *TINY_KEYSET, "--max-ratio", "1e6", "--json"
        )

        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["environment"]["rows"] == 3000
        medians = out["results"]["median_ms"]
        assert sorted(medians) == [
            "cursor/deep",
            "cursor/first",
            "offset/deep",
            "offset/first",
        ]
        assert all(value > 0 for value in medians.values())
        assert math.isfinite(out["results"]["cursor_ratio"])
        assert math.isfinite(out["results"]["offset_ratio"])

    def test_table(self):
        """
        Without --json, a table of both ways.
        """
        result = _python(
            "benchmarks/bench_keyset.py", *TINY_KEYSET, "--max-ratio", "1e6"
        )

        assert result.returncode == 0, result.stderr
        assert "| cursor |" in result.stdout
        assert "| offset |" in result.stdout

    def test_wrong_rows_fail(self):
        """
        A page that does not hold the rows it must makes the run fail.
        """
        result = _python("-c", _RUN_KEYSET_WRONG, *TINY_KEYSET)

        assert result.returncode == 1
        assert result.stdout == ""
        assert re.search(r"^FAILED: cursor/\w+: got ids", result.stderr)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["--max-ratio", "0"],
                r"^FAILED: the deep page by cursor costs .* over 0\.0\.$",
            ),
            (["--page", "1"], r"^FAILED: --page 1 of 20 items is not a page after"),
            (["--postgresql-url", ""], r"^FAILED: give --postgresql-url or set"),
        ],
        ids=["over-ratio", "first-page", "no-database"],
    )
    def test_failing_run(self, args, message):
        """
        A deep page over the ratio, a page that is not deep, or no database
        makes the run exit 1 with a FAILED line.
        """
        result = _python("benchmarks/bench_keyset.py", *TINY_KEYSET, *args)

        assert result.returncode == 1
        assert re.search(message, result.stderr.strip()), result.stderr
