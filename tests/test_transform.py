"""transform applies the business rules and keeps each entity's lineage."""
from ops_pipeline.rundir import read_jsonl
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.transform import transform
from ops_pipeline.stages.validate import validate

from .conftest import good_row


def _entities(run, kind):
    return list(read_jsonl(run.path / "transform" / f"{kind}.jsonl"))


def _transform(make_workbook, runs_root, rows):
    run = fetch(str(make_workbook(rows)), runs_root)
    validate(run)
    return run, transform(run)


def test_projects_cans_agreements_and_lines(make_workbook, runs_root):
    rows = [
        good_row(budget_id=1, project="Healthy Marriage Evaluation", can="G99HRF2 (OPRE-HMRF)"),
        good_row(budget_id=2, project="healthy  marriage evaluation", can="G99HRF2 (OPRE-HMRF)"),
        good_row(budget_id=3, project="Placeholder", cig_name="Stand-alone IAA", cig_type="iaa"),
        good_row(budget_id=4, project="OPRE", can="G99SRAE (SRAE Disc)", cig_name="CCRP Contract"),
        good_row(budget_id=5, project="", can="G99NODS", cig_name=None, cig_type=None),
    ]
    run, summary = _transform(make_workbook, runs_root, rows)
    assert summary["counts"] == {"project": 1, "can": 4, "agreement": 2, "budget_line_item": 5}
    [project] = _entities(run, "project")
    # No type: a new project is a research project (the spec's default); OPS's keep theirs.
    assert project["values"] == {"title": "Healthy Marriage Evaluation"}
    assert project["lineage"] == {"file": run.manifest["source"]["sha256"], "sheet": "All Budget - Cur", "rows": "2-3"}
    cans = {c["key"]["number"]: c for c in _entities(run, "can")}
    assert cans["G99HRF2"]["links"]["portfolio"] == {"abbreviation": "HMRF"}
    assert cans["G99SRAE"]["links"]["portfolio"] is None
    assert summary["cans_without_portfolio"] == [
        {"number": "G99SRAE", "description": "SRAE Disc"}, {"number": "G99NODS", "description": None}]
    agreements = {a["key"]["name"]: a for a in _entities(run, "agreement")}
    assert agreements["CCRP Contract"]["links"]["project"] == {"title": "Healthy Marriage Evaluation"}
    assert agreements["CCRP Contract"]["lineage"]["rows"] == "2-3,5"
    assert agreements["Stand-alone IAA"]["key"]["agreement_type"] == "IAA"
    assert agreements["Stand-alone IAA"]["links"]["project"] is None
    lines = _entities(run, "budget_line_item")
    assert [line["lineage"]["rows"] for line in lines] == ["2", "3", "4", "5", "6"]
    assert lines[4]["links"] == {"can": {"number": "G99NODS"}, "agreement": None}
    assert lines[0]["values"]["fiscal_year"] == 2025
    assert any(q["code"] == "opre-rows" for q in summary["questions"])


def test_a_project_whose_cans_fall_in_several_portfolios_is_a_question(make_workbook, runs_root):
    rows = [good_row(budget_id=1, project="Acquisition Services", can="G99CC01 (CC)"),
            good_row(budget_id=2, project="Acquisition Services", can="G99ABCD (HS-TA)")]
    _, summary = _transform(make_workbook, runs_root, rows)
    [question] = [q for q in summary["questions"] if q["code"] == "project-in-several-portfolios"]
    assert "Acquisition Services" in question["question"] and "CC, HS" in question["question"]


def test_fiscal_year_of_october_lines_is_the_next_year(make_workbook, runs_root):
    import datetime as dt

    run, _ = _transform(make_workbook, runs_root, [good_row(date=dt.datetime(2025, 10, 1))])
    [line] = _entities(run, "budget_line_item")
    assert line["values"]["fiscal_year"] == 2026
