"""
Benchmark what `import flask_servicecbv` costs on top of Flask and marshmallow.

Each repetition starts two fresh interpreters, in alternating order: one runs
`import flask, marshmallow`, the other `import flask, marshmallow` and then
`import flask_servicecbv`, timing each import statement inside the process.
A last interpreter runs the second script under `python -X importtime` to name
the modules the package loads and what each costs.
Every module is loaded from bytecode, as after `pip install`: the children
write and read it under a temporary `PYTHONPYCACHEPREFIX`, filled by a first,
untimed run, so that nothing is compiled while timed and the checkout is
left alone.
The run fails (status 1, a FAILED line on stderr) when `asyncio` is loaded by
the import, which only async services need, or when the package's own import
takes more than the budget.

    .venv/bin/python benchmarks/bench_import.py
    .venv/bin/python benchmarks/bench_import.py --repeat 40 --clock wall --json
    .venv/bin/python benchmarks/bench_import.py --import flask_servicecbv.rest

See benchmarks/README.md for how to read the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import version
from typing import Any

#: The imports every measurement starts from.
BASE = ("flask", "marshmallow")

#: Modules that must not be loaded by the measured imports.
FORBIDDEN = ("asyncio",)

#: What a child times its imports with: this thread's CPU time leaves out the
#: time the machine spends on other processes; wall time is what users wait.
CLOCKS = {"cpu": "thread_time_ns", "wall": "perf_counter_ns"}

# Run in a fresh interpreter: imports BASE, then (if any) the measured
# modules, and prints the times and what the measured imports loaded.
_CHILD = """
import json, sys, time
clock = time.{clock}
start = clock()
import {base}
base_done = clock()
before = set(sys.modules)
sys.stderr.write("{marker}\\n")
{measured}
end = clock()
print(json.dumps({{
    "base_ns": base_done - start,
    "measured_ns": end - base_done,
    "loaded": sorted(set(sys.modules) - before),
}}))
"""

_MARKER = "-- measured imports start here --"


class BenchmarkError(Exception):
    """A child interpreter failed, or the import broke a promise."""


def child_source(measured: list[str], clock: str) -> str:
    """
    Return the script a child runs: BASE, then the *measured* imports.
    """
    lines = [f"import {name}" for name in measured] or ["pass"]
    return _CHILD.format(
        clock=CLOCKS[clock],
        base=", ".join(BASE),
        marker=_MARKER,
        measured="\n".join(lines),
    )


def child_env(cache: str) -> dict[str, str]:
    """
    The environment of a child: bytecode written and read under *cache*.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def run_child(
    python: str, source: str, env: dict[str, str], *, importtime: bool = False
) -> tuple[dict[str, Any], str]:
    """
    Run *source* in a fresh interpreter; return its JSON output and stderr.
    """
    args = [python, *(["-X", "importtime"] if importtime else []), "-c", source]
    result = subprocess.run(  # noqa: S603 -- an interpreter and our own script
        args, capture_output=True, text=True, check=False, timeout=120, env=env
    )
    if result.returncode != 0:
        msg = (
            f"the child interpreter exited with {result.returncode}: "
            + (result.stderr.strip().splitlines() or ["no output"])[-1]
        )
        raise BenchmarkError(msg)
    return json.loads(result.stdout), result.stderr


def heaviest(stderr: str, top: int) -> list[dict[str, Any]]:
    """
    Parse `-X importtime` output after the marker: the *top* modules by their
    own import time, in µs.
    """
    rows: list[dict[str, Any]] = []
    for line in stderr.split(_MARKER, 1)[1].splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, cumulative_us, name = (
            part.strip() for part in line.removeprefix("import time:").split("|")
        )
        if self_us.isdigit():  # not the header
            rows.append(
                {
                    "module": name,
                    "self_us": int(self_us),
                    "cumulative_us": int(cumulative_us),
                }
            )
    rows.sort(key=lambda row: row["self_us"], reverse=True)
    return rows[:top]


def measure(
    python: str, measured: list[str], *, repeat: int, clock: str
) -> dict[str, Any]:
    """
    Time *repeat* pairs of fresh interpreters, alternating which goes first.
    """
    base_source = child_source([], clock)
    measured_source = child_source(measured, clock)
    base: list[float] = []
    total: list[float] = []
    own: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench_import") as cache:
        env = child_env(cache)
        # Untimed: compiles every module into the cache.
        out, _ = run_child(python, measured_source, env)
        loaded = out["loaded"]
        for i in range(repeat):
            order = [False, True] if i % 2 else [True, False]
            for with_measured in order:
                if with_measured:
                    out, _ = run_child(python, measured_source, env)
                    total.append((out["base_ns"] + out["measured_ns"]) / 1e6)
                    own.append(out["measured_ns"] / 1e6)
                else:
                    out, _ = run_child(python, base_source, env)
                    base.append(out["base_ns"] / 1e6)
        _, stderr = run_child(python, measured_source, env, importtime=True)
    return {
        "base_ms": base,
        "total_ms": total,
        "own_ms": own,
        "loaded": loaded,
        "heaviest": heaviest(stderr, 8),
    }


def summarize(samples: dict[str, Any]) -> dict[str, Any]:
    """
    Medians, the package's own cost, the difference and the ratio.
    """
    base = statistics.median(samples["base_ms"])
    total = statistics.median(samples["total_ms"])
    return {
        "base_median_ms": base,
        "total_median_ms": total,
        "own_median_ms": statistics.median(samples["own_ms"]),
        "own_best_ms": min(samples["own_ms"]),
        "difference_ms": total - base,
        "ratio": total / base,
    }


def markdown(summary: dict[str, Any], samples: dict[str, Any], label: str) -> str:
    lines = [
        "| measurement | ms |",
        "|---|--:|",
        f"| `import {', '.join(BASE)}`, median | {summary['base_median_ms']:.1f} |",
        (
            f"| `import {', '.join((*BASE, label))}`, median "
            f"| {summary['total_median_ms']:.1f} |"
        ),
        f"| difference of the medians | {summary['difference_ms']:.1f} |",
        f"| ratio of the medians | {summary['ratio']:.3f} |",
        (
            f"| `import {label}` after them, in the same process, median "
            f"| **{summary['own_median_ms']:.1f}** |"
        ),
        f"| the same, best | {summary['own_best_ms']:.1f} |",
        "",
        "| module loaded by the measured import | self µs | cumulative µs |",
        "|---|--:|--:|",
    ]
    lines.extend(
        f"| {row['module']} | {row['self_us']} | {row['cumulative_us']} |"
        for row in samples["heaviest"]
    )
    return "\n".join(lines)


def check(summary: dict[str, Any], samples: dict[str, Any], max_ms: float) -> None:
    """
    Raise BenchmarkError if a forbidden module was loaded or over budget.
    """
    forbidden = [name for name in FORBIDDEN if name in samples["loaded"]]
    if forbidden:
        msg = f"the import loaded {', '.join(forbidden)}, which it must not."
        raise BenchmarkError(msg)
    if summary["own_median_ms"] > max_ms:
        msg = (
            f"the import took {summary['own_median_ms']:.1f} ms (median) on top "
            f"of {', '.join(BASE)}, over the budget of {max_ms:g} ms."
        )
        raise BenchmarkError(msg)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument(
        "--repeat", type=int, default=15, help="interpreter pairs to start"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="time imports by the thread's CPU time (default) or wall time",
    )
    parser.add_argument(
        "--max-ms",
        type=float,
        default=5.0,
        help="budget for the measured imports, median ms (default 5)",
    )
    parser.add_argument(
        "--import",
        dest="modules",
        action="append",
        metavar="MODULE",
        help="a module to measure, repeatable (default: flask_servicecbv)",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter to start"
    )
    parser.add_argument("--json", action="store_true", help="print JSON results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modules = args.modules or ["flask_servicecbv"]
    try:
        samples = measure(args.python, modules, repeat=args.repeat, clock=args.clock)
    except BenchmarkError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    summary = summarize(samples)
    report(args, modules, summary, samples)
    try:
        check(summary, samples, args.max_ms)
    except BenchmarkError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0


def report(
    args: argparse.Namespace,
    modules: list[str],
    summary: dict[str, Any],
    samples: dict[str, Any],
) -> None:
    """
    Print the results, as JSON or as Markdown tables.
    """
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "flask": version("flask"),
        "marshmallow": version("marshmallow"),
        "repeat": args.repeat,
        "clock": args.clock,
        "max_ms": args.max_ms,
        "modules": modules,
    }
    if args.json:
        print(
            json.dumps(
                {"environment": env, "results": summary, "samples": samples}, indent=2
            )
        )
        return
    print(
        f"Python {env['python']} on {env['platform']}; Flask {env['flask']}, "
        f"marshmallow {env['marshmallow']}; {args.repeat} interpreter pairs, "
        f"{args.clock} clock; budget {args.max_ms:g} ms."
    )
    print()
    print(markdown(summary, samples, ", ".join(modules)))


if __name__ == "__main__":
    sys.exit(main())
