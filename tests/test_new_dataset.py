"""A new kind of input file is a new Dataset module: the stages need no edits.

A toy dataset (a list of research projects, one per row) is installed here as a third-party
package would install it (an entry point of the ``ops_pipeline.datasets`` group), is discovered,
registers its own finding code, and goes through fetch, validate, transform, load and report
exactly as the budget workbook does.
"""
import ast
from pathlib import Path

import pytest
from sqlalchemy import select

import ops_pipeline
from ops_pipeline.datasets.base import Column, Dataset, Problem, TransformResult, row_ranges
from ops_pipeline.db.engine import make_engine
from ops_pipeline.datasets.budget_workbook import BudgetWorkbook
from ops_pipeline.datasets.registry import ENTRY_POINT_GROUP, dataset_names, discover, get_dataset
from ops_pipeline.errors import PipelineError, UsageError
from ops_pipeline.findings import CODES, WARNING, UnregisteredCode, make_finding
from ops_pipeline.db.models import Lineage
from ops_pipeline.db.ops_models import Project
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.rundir import read_jsonl

from .conftest import write_workbook

#: The datasets this package brings itself (before any test installs another package's).
BUILT_IN = tuple(dataset_names())


class ProjectList(Dataset):
    name = "project-list"
    title = "a list of research projects"
    preferred_sheets = ("Projects",)
    entity_order = ("project",)
    columns = (Column("title", "Project Title"), Column("owner", "Owner", pii=True))
    finding_codes = {"no-owner": (WARNING, "the project has no owner yet")}

    def skip_reason(self, values):
        return "blank row" if not any(v is not None for v in values.values()) else None

    def check_row(self, values, state):
        title = values.get("title")
        problems = [] if isinstance(title, str) and title.strip() else [
            Problem("missing-value", "Project Title is empty", "title", title)]
        if values.get("owner") is None:
            problems.append(Problem("no-owner", "nobody owns this project", "owner"))
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

    def entities(self):
        """Research projects, found in OPS by title (ignoring case and spacing), never updated."""
        from ops_pipeline.db import ops_models as m
        from ops_pipeline.db.entities import EntitySpec, Key, Subtype

        return (EntitySpec("project", m.Project, Key(("title",), folded=("title",)), fields=("title",),
                           subtype=Subtype("project_type", {"RESEARCH": m.ResearchProject}, value="project_type"),
                           defaults={"description": ""}),)


class Unregistered(ProjectList):
    """A dataset whose rule emits a code it never declared: a programming error."""

    name = "unregistered"
    finding_codes = {}


def install(site: Path, monkeypatch, package: str, **points: str) -> None:
    """Install a distribution that declares ``points`` in the datasets entry-point group."""
    info = site / f"{package}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()))
    monkeypatch.syspath_prepend(str(site))


@pytest.fixture
def project_list(tmp_path, monkeypatch):
    install(tmp_path / "site", monkeypatch, "ops-pipeline-projects", projects=f"{__name__}:ProjectList")
    return ProjectList


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
    assert report["entities"]["project"] == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert report["cans_without_portfolio"] == []
    findings = list(read_jsonl(outcome.run.path / "validate" / "findings.jsonl"))
    assert [(f["cell"], f["code"], f["severity"]) for f in findings] == [
        ("Projects!A3", "missing-value", "error"), ("Projects!B4", "no-owner", "warning"),
        ("Projects!B5", "no-owner", "warning")]
    # The report explains the dataset's own code in the dataset's words.
    assert report["findings_detail"]["no-owner"]["meaning"] == "the project has no owner yet"
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        titles = sorted(conn.execute(select(Project.title)).scalars())
        traced = sorted(conn.execute(select(Lineage.rows).where(Lineage.entity == "project")).scalars())
    engine.dispose()
    assert titles == ["Healthy Marriage Study", "Home Visiting"]
    assert traced == ["2,5", "4"]


# -- discovery ------------------------------------------------------------------------------------

def test_the_package_s_datasets_are_found_without_being_named(monkeypatch):
    catalogue = discover()
    assert catalogue.datasets["budget-workbook"] is BudgetWorkbook
    assert catalogue.origins["budget-workbook"] == "module ops_pipeline.datasets.budget_workbook"
    # the current layout is a dataset of its own, which budget-workbook runs recognise by header
    assert {"budget-workbook", "budget-workbook-current", "maps-users", "maps-projects"} <= set(dataset_names())
    assert catalogue.origins["maps-users"] == "module ops_pipeline.datasets.maps_users"
    # Its codes are registered with the generic ones, and belong to it, not to findings.CODES.
    assert catalogue.codes["bad-can"] == BudgetWorkbook.finding_codes["bad-can"]
    assert "bad-can" not in CODES and set(CODES) <= set(catalogue.codes)


def test_an_installed_package_s_dataset_is_found_by_its_entry_point(project_list):
    catalogue = discover()
    assert catalogue.names() == sorted({*BUILT_IN, "project-list"})
    assert catalogue.origins["project-list"] == "entry point 'projects' of ops-pipeline-projects"
    assert catalogue.codes["no-owner"] == (WARNING, "the project has no owner yet")
    assert isinstance(get_dataset("project-list"), ProjectList)


def test_the_installed_packages_are_read_once_per_import_path(tmp_path, monkeypatch):
    """A run asks for its dataset nine times, a poller for every file: the entry points of every
    installed distribution are read once, and again only when the import path changes."""
    from importlib import metadata

    reads = []
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: reads.append(kw) or real(**kw))
    monkeypatch.syspath_prepend(str(tmp_path / "first"))
    first = discover()
    assert discover() is first and get_dataset("budget-workbook") is not get_dataset("budget-workbook")
    assert len(reads) == 1
    install(tmp_path / "site", monkeypatch, "ops-pipeline-projects", projects=f"{__name__}:ProjectList")
    assert "project-list" in discover().datasets and len(reads) == 2


def test_an_entry_point_may_name_a_module_of_datasets(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "more_datasets.py").write_text(
        "from ops_pipeline.datasets.base import Dataset\n"
        "class Maps(Dataset):\n    name = 'maps-export'\n"
        "class Helper(Dataset):\n    pass\n")  # no name: a base for others, not a dataset
    install(site, monkeypatch, "more", more="more_datasets")
    assert dataset_names() == sorted({*BUILT_IN, "maps-export"})


def test_an_unknown_dataset_names_the_known_ones(project_list):
    with pytest.raises(UsageError) as caught:
        get_dataset("budget")
    known = ", ".join(sorted({*BUILT_IN, "project-list"}))
    assert caught.value.one_line() == f"unknown dataset 'budget' (known: {known})"


def test_two_datasets_with_one_name_stop_discovery(tmp_path, monkeypatch):
    install(tmp_path / "site", monkeypatch, "copycat", copycat=f"{__name__}:Copycat")
    with pytest.raises(PipelineError) as caught:
        discover()
    assert caught.value.one_line() == (
        "two datasets are called 'budget-workbook': in module ops_pipeline.datasets.budget_workbook and in "
        "entry point 'copycat' of copycat (hint: rename one, or uninstall the package that brings it)")


def test_a_code_declared_twice_with_another_meaning_stops_discovery(tmp_path, monkeypatch):
    install(tmp_path / "site", monkeypatch, "clash", clash=f"{__name__}:Clash")
    with pytest.raises(PipelineError, match="finding code 'bad-can' is already registered by dataset "
                                            "'budget-workbook'"):
        discover()


def test_a_broken_entry_point_is_named(tmp_path, monkeypatch):
    install(tmp_path / "site", monkeypatch, "broken", broken="no_such_module_anywhere:Thing")
    with pytest.raises(PipelineError, match="entry point 'broken' of broken fails to load "
                                            r"\(ModuleNotFoundError"):
        discover()


class Copycat(ProjectList):
    name = "budget-workbook"


class Clash(ProjectList):
    name = "clash"
    finding_codes = {"bad-can": ("warning", "a CAN we do not like")}


# -- every finding code is registered -------------------------------------------------------------

def test_a_finding_with_an_unregistered_code_is_a_programming_error():
    with pytest.raises(UnregisteredCode, match="finding code 'made-up' is not registered"):
        make_finding("made-up", "no one declared this")
    # A dataset's code is registered for its own findings, not for every dataset's.
    with pytest.raises(UnregisteredCode):
        make_finding("bad-can", "x")
    assert make_finding("bad-can", "x", codes=BudgetWorkbook().codes()).severity == "error"


def test_a_dataset_whose_rule_emits_an_undeclared_code_crashes_validate(tmp_path, runs_root, monkeypatch):
    install(tmp_path / "site", monkeypatch, "unregistered", unregistered=f"{__name__}:Unregistered")
    book = write_workbook(tmp_path / "projects.xlsx", [["A Study", None]], header=["Project Title", "Owner"],
                          sheet="Projects")
    with pytest.raises(UnregisteredCode, match="'no-owner'"):
        run_pipeline(str(book), runs_root=runs_root, dataset="unregistered")


def _emitted_codes() -> dict[str, list[str]]:
    """Every finding code written as a literal in the package: the first argument of Problem,
    RuleViolation and make_finding, and of ``.code =`` assignments; code → where."""
    emitted: dict[str, list[str]] = {}
    root = Path(ops_pipeline.__file__).parent
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                    "Problem", "RuleViolation", "make_finding") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    emitted.setdefault(first.value, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return emitted


def test_every_finding_code_the_package_emits_is_registered():
    emitted = _emitted_codes()
    assert {"bad-can", "missing-value", "no-header", "unknown-status"} <= set(emitted)  # the scan sees them
    registered = discover().codes
    unregistered = {code: where for code, where in emitted.items() if code not in registered}
    assert unregistered == {}
