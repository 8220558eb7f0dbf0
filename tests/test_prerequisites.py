"""The test command needs nothing beside the repository, and in CI nothing skips silently.

A fresh clone must pass its test command on its own: every file a test reads (the corpus of real
spreadsheets, with its SOURCES.md and licences) lives in the repository. Under
``OPS_PIPELINE_REQUIRE_ALL=1`` (scripts/test.sh sets it) a missing prerequisite, or any skip at
all, fails the run instead of skipping.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import CORPUS_PAPERS, REPO, corpus_files
from tests.test_guard import EXPECTED

IN_REPO_CORPUS = REPO / "tests" / "corpus" / "real"


def test_the_corpus_is_in_the_repository_with_its_sources_and_licences():
    names = sorted(p.name for p in IN_REPO_CORPUS.iterdir() if p.is_file() and p.name not in CORPUS_PAPERS)
    assert names == sorted(EXPECTED) and len(names) == 60
    sources = (IN_REPO_CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in sources for name in names)
    mit = (IN_REPO_CORPUS / "LICENSE-MIT.txt").read_text(encoding="utf-8")
    apache = (IN_REPO_CORPUS / "LICENSE-Apache-2.0.txt").read_text(encoding="utf-8")
    for prefix in {name.split("__")[0] for name in names}:
        assert f"{prefix}__*" in (apache if prefix == "poi" else mit)
    assert "Permission is hereby granted, free of charge" in mit
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in apache


def test_tests_use_the_corpus_in_the_repository_unless_told_otherwise():
    if not os.environ.get("OPS_PIPELINE_CORPUS"):
        assert corpus_files() == sorted(EXPECTED)
    code = ("import tests.conftest as c, features.steps.security_steps as s; "
            "print(c.CORPUS); print(s.CORPUS)")
    env = {k: v for k, v in os.environ.items() if k != "OPS_PIPELINE_CORPUS"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(IN_REPO_CORPUS)] * 2


#: What a reference to a file outside the repository looks like: the shared folder beside the
#: clone, the repository's parent, or an absolute path into the machine the tests were written on.
OUTSIDE = re.compile(r"\.\./shared|[\"']shared[\"']\s*/|REPO\.parent|/work/")
PARENTS = re.compile(r"parents\[(\d+)\]")


def _outside(path: Path, line: str) -> bool:
    # Path(__file__).parents[n] leaves the repository once n reaches the file's depth in it.
    depth = len(path.relative_to(REPO).parts)
    return bool(OUTSIDE.search(line)) or any(int(n) >= depth for n in PARENTS.findall(line))


def test_nothing_the_tests_read_lives_outside_the_repository():
    files = [*REPO.glob("tests/*.py"), *REPO.glob("features/**/*.py"), *REPO.glob("features/*.feature"),
             *REPO.glob("scripts/*"), *REPO.glob(".ci/*"), REPO / "README.md", REPO / "SECURITY.md", REPO / "setup.cfg",
             REPO / "pyproject.toml"]
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for path in files if path.is_file() and path.name != Path(__file__).name
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if _outside(path, line)]
    assert found == []


# -- no silent skips ------------------------------------------------------------------------------

#: Tests whose prerequisites the runs below take away: the corpus, PostgreSQL, and a skip this
#: suite does not know of yet (a skipif mark, importorskip, a plugin), which a plugin adds here.
NEEDS_CORPUS = "tests/test_guard.py::test_every_corpus_file_has_an_expected_outcome"
NEEDS_PG = "tests/test_cli.py::test_stage_by_stage_then_report_json[postgresql]"
SKIPPED_BY_A_PLUGIN = "tests/test_rules_can.py::test_accepted_cans"
PLUGIN = """import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "test_rules_can" in item.nodeid:
            item.add_marker(pytest.mark.skip(reason="no such tool"))
"""


def pytest_run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "skip_some.py").write_text(PLUGIN)
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("OPS_PIPELINE_REQUIRE", "OPS_PIPELINE_TEST_PG", "OPS_PIPELINE_CORPUS"))}
    clean.update(OPS_PIPELINE_CORPUS=str(tmp_path / "no-corpus"), PYTHONDONTWRITEBYTECODE="1",
                 PYTHONPATH=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
                           "-p", "skip_some", NEEDS_CORPUS, NEEDS_PG, SKIPPED_BY_A_PLUGIN],
                          cwd=REPO, env=clean, capture_output=True, text=True)


def test_a_missing_prerequisite_skips_on_a_developer_machine(tmp_path):
    result = pytest_run(tmp_path)
    assert result.returncode == 0, result.stdout
    summary = result.stdout.splitlines()[-1]
    assert re.fullmatch(r"(\d+) skipped in .*", summary) and int(summary.split()[0]) > 2, summary


def test_a_missing_prerequisite_fails_where_skipping_is_forbidden(tmp_path):
    result = pytest_run(tmp_path, OPS_PIPELINE_REQUIRE_ALL="1")
    assert result.returncode == 1, result.stdout
    summary = result.stdout.splitlines()[-1]
    assert re.fullmatch(r"(\d+) errors in .*", summary) and int(summary.split()[0]) > 2, summary
    assert (f"missing prerequisite: the corpus of real spreadsheets: no data files in {tmp_path / 'no-corpus'} "
            "(skipping is forbidden: OPS_PIPELINE_REQUIRE_ALL=1)") in result.stdout
    assert ("missing prerequisite: PostgreSQL: set OPS_PIPELINE_TEST_PG_URL (scripts/test.sh does) "
            "(skipping is forbidden: OPS_PIPELINE_REQUIRE_ALL=1 or OPS_PIPELINE_REQUIRE_PG=1)") in result.stdout
    assert "skipped, but OPS_PIPELINE_REQUIRE_ALL=1 forbids skipping: Skipped: no such tool" in result.stdout


def test_the_test_command_forbids_skipping():
    script = (REPO / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert "export OPS_PIPELINE_REQUIRE_ALL=1" in script
