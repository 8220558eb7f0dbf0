#!/usr/bin/env python
"""Benchmark: generate a budget workbook of N rows and run the stages, printing seconds per stage,
rows per second and peak memory (each stage runs in a forked child so its peak RSS is its own).

    python scripts/bench.py --rows 100000                 # SQLite in a temp folder
    python scripts/bench.py --rows 100000 --db postgresql+psycopg://...   # or OPS_PIPELINE_TEST_PG_URL
    python scripts/bench.py --rows 100000 --reader openpyxl

Figures are for comparing runs on the same machine, in the same run: quote ratios, not absolutes.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops_pipeline.db.engine import init_schema  # noqa: E402
from ops_pipeline.rundir import RunDir  # noqa: E402
from ops_pipeline.sample import write_sample_workbook  # noqa: E402
from ops_pipeline.stages.fetch import fetch  # noqa: E402
from ops_pipeline.stages.load import load  # noqa: E402
from ops_pipeline.stages.report import report  # noqa: E402
from ops_pipeline.stages.transform import transform  # noqa: E402
from ops_pipeline.stages.validate import validate  # noqa: E402


def in_child(func, *args, **kwargs) -> dict:
    """Run func in a forked child; return its seconds, peak RSS (MB) and JSON-able result."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        status = 0
        try:
            started = time.perf_counter()
            result = func(*args, **kwargs)
            payload = {"seconds": time.perf_counter() - started, "result": result}
        except BaseException as exc:  # report, do not hide
            payload = {"error": f"{type(exc).__name__}: {exc}"}
            status = 1
        with os.fdopen(write_fd, "w") as handle:
            json.dump(payload, handle, default=str)
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd) as handle:
        payload = json.loads(handle.read() or "{}")
    _, _, usage = os.wait4(pid, 0)
    payload["peak_mb"] = usage.ru_maxrss / 1024
    return payload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default=os.environ.get("OPS_PIPELINE_BENCH_DB"))
    parser.add_argument("--reader", default="auto", choices=["auto", "calamine", "openpyxl"])
    parser.add_argument("--workdir", default=None, help="keep files here instead of a temp folder")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ops-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db_url = args.db or f"sqlite:///{work / 'bench.db'}"
    workbook = work / f"budget-{args.rows}.xlsx"

    print(f"rows={args.rows} reader={args.reader} db={db_url.split('@')[-1]} python={sys.version.split()[0]}")
    started = time.perf_counter()
    if not workbook.exists():
        write_sample_workbook(workbook, rows=args.rows, seed=11, dirty=False)
    print(f"generate workbook: {time.perf_counter() - started:.2f} s ({workbook.stat().st_size / 1e6:.1f} MB)")
    init_schema(db_url)

    figures = {}
    run_path = {}

    def do_fetch():
        run = fetch(str(workbook), work / "runs")
        return str(run.path)

    res = in_child(do_fetch)
    if "error" in res:
        print("fetch failed:", res["error"])
        return 1
    run_path["p"] = res["result"]
    figures["fetch"] = res

    steps = [
        ("validate", lambda: validate(RunDir(run_path["p"]), reader=args.reader)["rows"]),
        ("transform", lambda: transform(RunDir(run_path["p"]))["counts"]),
    ]
    if not args.skip_load:
        steps += [
            ("load", lambda: load(RunDir(run_path["p"]), db_url=db_url)["entities"]),
            ("load again", lambda: load(RunDir(run_path["p"]), db_url=db_url)["entities"]),
        ]
    steps.append(("report", lambda: report(RunDir(run_path["p"]))["status"]))
    for name, step in steps:
        res = in_child(step)
        figures[name] = res
        if "error" in res:
            print(f"{name} failed: {res['error']}")
            return 1

    print(f"{'stage':<11} {'seconds':>8} {'rows/s':>10} {'peak MB':>8}")
    for name, res in figures.items():
        rate = args.rows / res["seconds"] if res["seconds"] else 0
        print(f"{name:<11} {res['seconds']:>8.2f} {rate:>10,.0f} {res['peak_mb']:>8.0f}")
    vt = figures["validate"]["seconds"] + figures["transform"]["seconds"]
    total = sum(r["seconds"] for n, r in figures.items() if n != "load again")
    print(f"validate+transform: {vt:.2f} s, peak {max(figures['validate']['peak_mb'], figures['transform']['peak_mb']):.0f} MB")
    print(f"fetch to report (without the repeat load): {total:.2f} s")
    if "load" in figures:
        print("load counts:", json.dumps(figures["load"]["result"]))
        print("load again counts:", json.dumps(figures["load again"]["result"]))
    print(f"parent peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
