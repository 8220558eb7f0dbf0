"""The benchmark script runs, and on PostgreSQL measures the floor issue 9 compares the load with:
the rows the load wrote, copied into a fresh database of OPS's schema (a few hundred rows here);
with ``--layout both`` it runs the two layouts in turn and compares them (issue 17)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _pg_base_url

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_copies_what_the_load_wrote_and_compares_the_layouts(tmp_path):
    _pg_base_url()  # skips (or fails under OPS_PIPELINE_REQUIRE_PG) without a server
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--rows", "200", "--db", "pg", "--skip-cli",
         "--workdir", str(tmp_path), "--layout", "both", "--pairs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    floor = re.search(r"copying the ([\d,]+) rows the load wrote into (\d+) of OPS's tables .*?: ([\d.]+) s; "
                      r"load ([\d.]+) x that, fetch to report ([\d.]+) x", done.stdout)
    assert floor, done.stdout
    rows, tables = int(floor.group(1).replace(",", "")), int(floor.group(2))
    # 200 lines, each with its subtype row, version rows, history and event rows: well over 1,000
    assert rows > 200 * 5 and tables > 10
    assert float(floor.group(3)) > 0 and float(floor.group(5)) >= float(floor.group(4)) > 0
    # and the figures scaled to the copy the issue measured (20 s): fetch to report is that ratio x 20
    scaled = re.search(r"at the issue's 20 s copy: fetch to report ([\d.]+) s \(target < 30 s\), "
                       r"load again ([\d.]+) s \(target < 4 s\)", done.stdout)
    assert scaled, done.stdout
    assert abs(float(scaled.group(1)) - 20 * float(floor.group(5))) <= 0.2
    # --layout both: each layout ran (the current one with its services components), then the
    # comparison, whose fetch to report is the ratio of the two runs' own figures
    assert done.stdout.count("--- classic layout, run 1 of 1") == 1
    assert done.stdout.count("--- current layout, run 1 of 1") == 1
    assert '"services_component": {"inserted": ' in done.stdout
    assert re.search(r"cells holding a value: classic [\d,]+, current [\d,]+: current / classic 1\.\d\d", done.stdout)
    totals = [float(t) for t in re.findall(r"fetch to report, stage by stage .*?: ([\d.]+) s", done.stdout)]
    ratio = re.search(r"issue 17: fetch to report, current / classic ([\d.]+) x: (NOT )?within 10%", done.stdout)
    assert len(totals) == 2 and ratio, done.stdout
    # the totals and the ratio are printed to two places: the printed ratio lies in the interval
    # the rounded totals allow (half a hundredth either way on each), itself rounded
    classic, current, printed = totals[0], totals[1], float(ratio.group(1))
    assert (current - 0.005) / (classic + 0.005) - 0.005 <= printed <= (current + 0.005) / (classic - 0.005) + 0.005


def _bench_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_layouts_are_compared_on_the_median_of_their_runs(capsys):
    bench = _bench_module()

    def run(validate, load, floor):
        return {"stages": {"fetch": 0.1, "validate": validate, "load": load},
                "fetch to report": 0.1 + validate + load, "floor": floor}

    # the slow second classic run and the fast first current one are not what the medians take
    measured = {"classic": [run(4.0, 30.0, 25.0), run(9.0, 40.0, 30.0), run(4.4, 31.0, 26.0)],
                "current": [run(2.0, 20.0, 20.0), run(5.0, 32.0, 25.0), run(5.2, 33.0, 26.0)]}
    ratios = bench.layout_ratios(measured)
    assert ratios["validate"] == (4.4, 5.0, 5.0 / 4.4)
    assert ratios["load"] == (31.0, 32.0, 32.0 / 31.0)
    assert ratios["fetch to report"][:2] == pytest.approx((35.5, 37.1))
    assert "fetch" not in ratios
    # over each run's own copy: 34.1/25, 49.1/30, 35.5/26 -> 35.5/26; 22.1/20, 37.1/25, 38.3/26 -> 38.3/26
    assert ratios["fetch to report / copy"][:2] == pytest.approx((35.5 / 26.0, 38.3 / 26.0))
    bench.print_layout_ratios(measured)
    out = capsys.readouterr().out
    assert f"fetch to report, current / classic {37.1 / 35.5:.2f} x: within 10%" in out
    measured["current"][1]["fetch to report"] = measured["current"][2]["fetch to report"] = 45.0
    bench.print_layout_ratios(measured)
    assert f"current / classic {45.0 / 35.5:.2f} x: NOT within 10%" in capsys.readouterr().out


def test_the_comparison_gives_each_ratio_per_cell_when_the_cells_are_counted(tmp_path, capsys):
    from openpyxl import Workbook

    bench = _bench_module()
    book = Workbook()
    book.active.append(["CAN", None, "Amount"])
    book.active.append(["G99HRF2", "", 0])  # an empty string is no value; a zero is one
    book.create_sheet("Notes").append(["a note"])
    book.save(tmp_path / "counted.xlsx")
    assert bench.count_cells(tmp_path / "counted.xlsx") == 5

    measured = {"classic": [{"stages": {"validate": 4.0}, "fetch to report": 10.0, "floor": None}],
                "current": [{"stages": {"validate": 6.0}, "fetch to report": 10.5, "floor": None}]}
    bench.print_layout_ratios(measured, {"classic": 1000, "current": 1250})
    out = capsys.readouterr().out
    assert "cells holding a value: classic 1,000, current 1,250: current / classic 1.25" in out
    # validate: 6 / 4 = 1.50 as measured, 1.50 / 1.25 = 1.20 per cell
    assert re.search(r"^validate +4\.00 +6\.00 +1\.50 +1\.20$", out, re.M), out
    assert re.search(r"^fetch to report +10\.00 +10\.50 +1\.05 +0\.84$", out, re.M), out
