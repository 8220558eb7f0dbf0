"""behave hooks: each scenario gets its own temporary folder (runs root, database, workbooks).

Under ``OPS_PIPELINE_REQUIRE_ALL=1`` (scripts/test.sh, hence CI, sets it) a skipped scenario fails
the run, as a skipped test fails pytest: CI cannot pass by silently not checking a rule.
"""
import os
import shutil
import tempfile
from pathlib import Path

from behave.model_core import Status

REQUIRE_ALL = "OPS_PIPELINE_REQUIRE_ALL"


def before_scenario(context, scenario):
    context.tmp = Path(tempfile.mkdtemp(prefix="ops-behave-"))
    context.runs_root = context.tmp / "runs"


def after_scenario(context, scenario):
    shutil.rmtree(context.tmp, ignore_errors=True)


def after_all(context):
    if os.environ.get(REQUIRE_ALL) != "1":
        return
    skipped = [f"{scenario.location}: {scenario.name}"
               for feature in context._runner.features for scenario in feature.walk_scenarios()
               if scenario.status in (Status.skipped, Status.untested)]
    if skipped:
        raise AssertionError(f"{len(skipped)} scenario(s) skipped, but {REQUIRE_ALL}=1 forbids skipping: "
                             + "; ".join(skipped))
