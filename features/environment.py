"""behave hooks: each scenario gets its own temporary folder (runs root, database, workbooks)."""
import shutil
import tempfile
from pathlib import Path


def before_scenario(context, scenario):
    context.tmp = Path(tempfile.mkdtemp(prefix="ops-behave-"))
    context.runs_root = context.tmp / "runs"


def after_scenario(context, scenario):
    shutil.rmtree(context.tmp, ignore_errors=True)
