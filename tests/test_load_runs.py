"""Several runs loaded in one transaction (``load_runs``, what ``migrate`` does with an export set):
a later run sees the rows of an earlier one, each keeps its own run record, lineage and counts,
and a refusal in any run leaves nothing of the others."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ops_pipeline.db.models import Lineage, PipelineRun
from ops_pipeline.db.ops_models import BudgetLineItem
from ops_pipeline.errors import DataInvalid
from ops_pipeline.stages.load import load_runs
from ops_pipeline.rundir import read_jsonl
from tests.conftest import good_row, staged, db_rows as _rows


def test_two_runs_load_in_one_transaction_the_second_seeing_the_first(db_url, runs_root, make_workbook):
    first = staged(make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc="Year 2")]), runs_root)
    second = staged(make_workbook([good_row(budget_id=2, desc="Year 2"), good_row(budget_id=3, desc="Year 3")]),
                    runs_root)
    one, two = load_runs([first, second], db_url=db_url)

    assert one["entities"]["budget_line_item"]["inserted"] == 2
    # Line 2 was inserted by the first run in the same transaction: the second finds it as it is.
    assert two["entities"]["budget_line_item"]["inserted"] == 1
    assert two["entities"]["budget_line_item"]["unchanged"] == 1
    records = {r.id: r for r in _rows(db_url, select(PipelineRun))}
    assert set(records) == {first.run_id, second.run_id}
    assert records[first.run_id].counts == one["entities"] and records[second.run_id].counts == two["entities"]
    lineage = dict(_rows(db_url, select(Lineage.run_id, func.count()).where(Lineage.entity == "budget_line_item")
                         .group_by(Lineage.run_id)))
    assert lineage == {first.run_id: 2, second.run_id: 2}
    assert first.status("load") == second.status("load") == "succeeded"
    assert [i for (i,) in _rows(db_url, select(BudgetLineItem.id).order_by(BudgetLineItem.id))] == [1, 2, 3]

    again = load_runs([first, second], db_url=db_url)
    assert all(r["reloaded"] for r in again)
    assert all(c["inserted"] == c["updated"] == 0 for r in again for c in r["entities"].values())
    assert all(not r["history"] for r in again)


def test_a_refusal_in_a_later_run_rolls_back_the_earlier_ones_and_names_its_file(sqlite_url, runs_root,
                                                                                 make_workbook):
    first = staged(make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc="Year 2")], name="a.xlsx"),
                   runs_root)
    # The same lines under a grant: OPS never changes a line's kind, and the second run finds
    # the first run's contract lines although nothing is committed yet.
    second = staged(make_workbook([good_row(budget_id=1, cig_type="grant")], name="b.xlsx"), runs_root)
    with pytest.raises(DataInvalid) as caught:
        load_runs([first, second], db_url=sqlite_url, rerun="ops-pipeline migrate set/")
    error = caught.value
    assert error.file == "b.xlsx" and error.run_id == second.run_id
    assert error.one_line().startswith("load: b.xlsx: OPS cannot take 1 record as it is; nothing was loaded.")
    assert error.hint == (f"every finding is in {second.path / 'load' / 'refused.jsonl'}; fix the file, "
                          "or load the rest with: ops-pipeline migrate set/ --accept-rejects")
    assert [f["code"] for f in read_jsonl(second.path / "load" / "refused.jsonl")] == ["cannot-load"]
    assert _rows(sqlite_url, select(BudgetLineItem.id)) == []
    assert _rows(sqlite_url, select(PipelineRun.id)) == []
    assert first.status("load") == second.status("load") == "failed"
    assert first.stage_info("load")["error"]["file"] == "b.xlsx"


def test_a_dry_run_of_several_runs_counts_them_together_and_writes_nothing(sqlite_url, runs_root, make_workbook):
    first = staged(make_workbook([good_row(budget_id=1)]), runs_root)
    second = staged(make_workbook([good_row(budget_id=1, amount=5), good_row(budget_id=2, desc="Y2")]), runs_root)
    one, two = load_runs([first, second], db_url=sqlite_url, dry_run=True)
    assert one["dry_run"] and one["entities"]["budget_line_item"]["inserted"] == 1
    assert two["entities"]["budget_line_item"] == {**two["entities"]["budget_line_item"], "inserted": 1, "updated": 1}
    assert _rows(sqlite_url, select(PipelineRun.id)) == []
    assert first.status("load") == "pending" and (first.path / "load" / "plan.json").is_file()
