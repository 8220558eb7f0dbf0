"""The locked dependencies: every dependency of pyproject.toml is pinned, with hashes, in the lock
that installs it; what cloud.gov installs is the runtime lock; the SBOM lists that lock."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
#: Which lock installs which dependency groups of pyproject.toml.
LOCKS = {
    "requirements.lock": ("runtime",),
    "requirements-test.lock": ("runtime", "test"),
    "requirements-dev.lock": ("dev",),
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return canonical(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec).group(1))


def declared(group: str) -> set[str]:
    project = PYPROJECT["project"]
    specs = project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]
    return {requirement_name(spec) for spec in specs}


def parse_lock(text: str) -> dict[str, dict]:
    """``{name: {"version", "hashes"}}`` of a pip-compile/uv lock (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    entries = {}
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)(.*)$", line)
        assert match, f"not pinned to one version: {line[:80]}"
        entries[canonical(match.group(1))] = {
            "version": match.group(3),
            "hashes": re.findall(r"--hash=sha256:([0-9a-f]{64})\b", match.group(4)),
        }
    return entries


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_pins_every_declared_dependency_with_hashes(lock):
    entries = parse_lock((REPO / lock).read_text())
    wanted = set().union(*(declared(group) for group in LOCKS[lock]))
    assert wanted - set(entries) == set(), f"{lock} lacks dependencies of pyproject.toml"
    unhashed = sorted(name for name, entry in entries.items() if not entry["hashes"])
    assert unhashed == []


def test_parse_lock_refuses_an_unpinned_line_and_sees_a_missing_hash():
    with pytest.raises(AssertionError, match="not pinned"):
        parse_lock("click>=8.1 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    assert parse_lock("click==8.1.7\n")["click"]["hashes"] == []


def test_test_lock_holds_the_runtime_lock_at_the_same_versions():
    runtime = parse_lock((REPO / "requirements.lock").read_text())
    test = parse_lock((REPO / "requirements-test.lock").read_text())
    differ = {name: (entry["version"], test.get(name, {}).get("version")) for name, entry in runtime.items()
              if test.get(name, {}).get("version") != entry["version"]}
    assert differ == {}


def test_cloud_gov_installs_the_runtime_lock_only():
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert lines == ["-r requirements.lock"]
    assert (REPO / "runtime.txt").read_text().strip().startswith("python-3.11")


def test_setup_installs_from_the_test_lock_with_hashes_then_the_package_without_deps():
    script = (REPO / "scripts" / "setup.sh").read_text()
    assert re.search(r"install --require-hashes --no-deps -r requirements-test\.lock", script)
    assert re.search(r"install --no-deps --no-build-isolation -e \.", script)
    assert "pip install -e '.[test]'" not in script


def test_the_sbom_lists_exactly_the_runtime_lock():
    sbom = json.loads((REPO / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    components = {canonical(c["name"]): c["version"] for c in sbom["components"]}
    locked = {name: entry["version"] for name, entry in parse_lock((REPO / "requirements.lock").read_text()).items()}
    assert components == locked, "run scripts/sbom.sh after scripts/lock.sh"
    assert sbom["metadata"]["component"]["name"] == "ops-pipeline"


def test_a_second_setup_installs_nothing_and_prints_nothing():
    """Issue 12: demo.sh (which runs setup.sh) reinstalled the package and printed setuptools
    warnings on every run."""
    import hashlib
    import subprocess

    stamp = REPO / ".venv" / ".installed-from"
    want = hashlib.sha256((REPO / "requirements-test.lock").read_bytes() + (REPO / "pyproject.toml").read_bytes())
    if not stamp.is_file() or stamp.read_text().strip() != want.hexdigest():
        pytest.skip("scripts/setup.sh has not been run since the lock or pyproject.toml changed")
    site = next((REPO / ".venv" / "lib").glob("python3*/site-packages"))
    before = {p.name: p.stat().st_mtime_ns for p in site.glob("ops_pipeline-*.dist-info")}
    result = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], capture_output=True, text=True,
                            timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert before and {p.name: p.stat().st_mtime_ns for p in site.glob("ops_pipeline-*.dist-info")} == before
