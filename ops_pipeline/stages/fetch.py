"""fetch: bring a source file into a new run directory, with its checksum."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..datasets.registry import get_dataset
from ..errors import LimitExceeded, UsageError
from ..redact import scrub_text
from ..rundir import RunDir, atomic_write
from ..sources import copy_name
from . import recorded

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
#: The dataset of a file not named: a workbook is a budget workbook, a MAPS text export (.tsv) is
#: recognised from its header row (ops_pipeline.maps.recognise); a text file with no MAPS header
#: that holds a budget sheet's header row (either layout) is a budget sheet saved as text.
AUTO = "auto"
BUDGET = "budget-workbook"


def resolve_dataset(dataset: str, name: str, path: Path | None = None) -> str | None:
    """The dataset a fetch of ``name`` runs: ``dataset`` unless it is :data:`AUTO`; for a text
    export, the one its header names (None while the file is not at hand: an S3 object)."""
    if dataset != AUTO:
        return dataset
    from ..readers.tsv import is_text_export

    if not is_text_export(name):
        return BUDGET
    if path is None:
        return None
    from ..maps import UnrecognisedExport, recognise_file

    try:
        return recognise_file(path, display_name=name).name
    except UnrecognisedExport as exc:
        if not _budget_sheet(path, name):
            raise UnrecognisedExport(f"{exc.message}, nor a budget sheet's", file=exc.file, hint=exc.hint) from None
    return BUDGET


def _budget_sheet(path: Path, name: str) -> bool:
    """Whether a text file's first rows hold a budget sheet's header row, in either layout: at
    least half of the layout's required columns (validate then names any that are missing), as
    budget staff, or OPS's own data tools, keep the sheet as tab-separated text."""
    import itertools

    from ..datasets.base import HEADER_SCAN_ROWS
    from ..readers.tsv import TsvBook
    from .validate import _locate_any, layouts

    with TsvBook(path, name, None) as book:
        head = list(itertools.islice(book.rows(), HEADER_SCAN_ROWS))
    # the layout matching the largest share of its required columns, as validate picks it
    table, score, found = _locate_any(layouts(get_dataset(BUDGET)), book.sheet, head)
    return table is not None and 2 * score >= sum(1 for column in found.columns if column.required)


def fetch(source: str, runs_root: Path | str, *, dataset: str = AUTO,
          max_bytes: int = DEFAULT_MAX_BYTES, endpoint_url: str | None = None,
          run_id: str | None = None) -> RunDir:
    """Copy a local file (or download an ``s3://`` object) into a new run directory.

    Returns the run directory; the copy is read-only and its sha256 is in the manifest. An
    unknown ``dataset`` is refused before anything is copied, as validate would refuse it.
    ``run_id`` names the run directory (a scheduler names runs before they start); a run of
    that name is fetched again.
    """
    if dataset != AUTO:
        get_dataset(dataset)
    if source.startswith("s3://"):
        from .fetch_s3 import fetch_s3

        return fetch_s3(source, runs_root, dataset=dataset, max_bytes=max_bytes, endpoint_url=endpoint_url,
                        run_id=run_id)
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"{source}: no such file", hint="give the path of a workbook or an s3:// URI")
    size = path.stat().st_size
    if size > max_bytes:
        raise LimitExceeded(
            f"is {size:,} bytes, over the {max_bytes:,}-byte limit", file=path.name,
            hint="raise it with --max-bytes or OPS_PIPELINE_MAX_BYTES",
        )
    dataset = resolve_dataset(dataset, path.name, path)
    # A file name is scrubbed like free text (an e-mail address or SSN in it is masked) in the
    # manifest and in the name of the copy, since both are shown in reports and messages.
    run = RunDir.create(runs_root, dataset=dataset,
                        source={"path": scrub_text(str(path.resolve())), "name": scrub_text(path.name)},
                         run_id=run_id)
    with recorded(run, "fetch"):
        target = run.stage_dir("fetch") / copy_name(path.name)
        digest = hashlib.sha256()
        with open(path, "rb") as src, atomic_write(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        os.chmod(target, 0o400)
        sha = digest.hexdigest()
        run.manifest["source"].update({"sha256": sha, "size": size})
        run.succeed("fetch", outputs=[run.output_record(target, sha256=sha)], counts={"bytes": size})
    return run


def source_file(run: RunDir) -> Path:
    """The fetched copy of the source file."""
    outputs = run.stage_info("fetch").get("outputs") or []
    if not outputs:
        raise UsageError(f"run {run.run_id} has no fetched file", hint="ops-pipeline fetch FILE")
    return run.path / outputs[0]["path"]
