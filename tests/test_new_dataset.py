"""A new kind of input file is a new Dataset module: the stages need no edits.

A toy dataset (a list of research projects, one per row) is registered here and goes through
fetch, validate, transform, load and report exactly as the budget workbook does.
"""
import pytest
from sqlalchemy import select

from ops_pipeline.datasets import base
from ops_pipeline.datasets.base import Column, Dataset, Problem, TransformResult, row_ranges
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.models import Lineage, Project
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.rundir import read_jsonl

from .conftest import write_workbook


class ProjectList(Dataset):
    name = "project-list"
    title = "a list of research projects"
    preferred_sheets = ("Projects",)
    entity_order = ("project",)
    columns = (Column("title", "Project Title"), Column("owner", "Owner", pii=True))

    def skip_reason(self, values):
        return "blank row" if not any(v is not None for v in values.values()) else None

    def check_row(self, values, state):
        title = values.get("title")
        problems = [] if isinstance(title, str) and title.strip() else [
            Problem("missing-value", "Project Title is empty", "title", title)]
        return {"title": title.strip() if isinstance(title, str) else None}, problems

    def transform(self, rows, context):
        seen: dict[str, list[int]] = {}
        for record in rows:
            seen.setdefault(record["values"]["title"], []).append(record["row"])
        entities = ({"entity": "project", "key": {"title": title},
                     "values": {"title": title, "project_type": "RESEARCH"}, "links": {},
                     "lineage": {"file": context["file_sha256"], "sheet": context["sheet"], "rows": row_ranges(lines)}}
                    for title, lines in seen.items())
        return TransformResult(entities=entities, summary=lambda: {"counts": {"project": len(seen)}})


@pytest.fixture
def project_list():
    base.register(ProjectList)
    yield ProjectList
    del base._registry[ProjectList.name]


def test_a_new_dataset_goes_through_every_stage_unchanged(project_list, tmp_path, runs_root, sqlite_url):
    rows = [["Healthy Marriage Study", "Jordan Alvarez"], [None, "Riley Chen"], ["Home Visiting", None],
            ["Healthy Marriage Study", None]]
    book = write_workbook(tmp_path / "projects.xlsx", rows, header=["Project Title", "Owner"], sheet="Projects")

    outcome = run_pipeline(str(book), runs_root=runs_root, db_url=sqlite_url, dataset="project-list",
                           accept_rejects=True)

    assert outcome.error is None, outcome.error.one_line()
    report = outcome.report
    assert report["status"] == "succeeded"
    assert report["rows"] == {"read": 4, "valid": 3, "rejected": 1, "skipped": 0}
    assert report["entities"]["project"] == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert report["cans_without_portfolio"] == []
    [finding] = read_jsonl(outcome.run.path / "validate" / "findings.jsonl")
    assert finding["cell"] == "Projects!A3" and finding["code"] == "missing-value"
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        titles = sorted(conn.execute(select(Project.title)).scalars())
        traced = sorted(conn.execute(select(Lineage.rows).where(Lineage.entity == "project")).scalars())
    engine.dispose()
    assert titles == ["Healthy Marriage Study", "Home Visiting"]
    assert traced == ["2,5", "4"]
