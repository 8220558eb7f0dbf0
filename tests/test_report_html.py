"""The HTML report: self-contained, accessible, escaped, masked; and rendered by a real browser."""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.stages.report import render
from tests.conftest import good_row, missing_prerequisite, write_workbook

HOSTILE_STATUS = "<img src=x onerror=alert(1)> call 202-555-0143"
HOSTILE_SHEET = "Budget <b>Cur"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, _sqlite_template):
    folder = tmp_path_factory.mktemp("html")
    db = folder / "ops.db"
    shutil.copy(_sqlite_template, db)
    rows = [good_row(), good_row(budget_id=15002, amount=100, status=HOSTILE_STATUS),
            ["Total", None, None, None, None, None, None, 1234.5]]
    book = write_workbook(folder / "budget.xlsx", rows, sheet=HOSTILE_SHEET)
    outcome = run_pipeline(str(book), runs_root=folder / "runs", db_url=f"sqlite:///{db}", accept_rejects=True)
    assert outcome.report["status"] == "succeeded"
    return outcome


class Page(HTMLParser):
    """The elements and text of a page, as a parser (or a browser) sees them."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


def _check_page(page: Page, report: dict) -> None:
    assert page.all("html")[0]["lang"] == "en"
    assert len(page.all("h1")) == 1
    assert not page.all("img") and not page.all("script") and not page.all("b") and not page.all("link")
    text = " ".join(page.text)
    # Cell text is shown as text, with the phone number masked as every other format masks it.
    assert "<img src=x onerror=alert(1)>" in text and "202-555-0143" not in text
    assert "Sheet" in text and HOSTILE_SHEET in text
    assert "Outcome: Loaded" in text  # the status in words, not by colour alone
    assert "DOES NOT MATCH" not in text and "matches" in text  # the totals row: 1234.50 loaded
    assert "unknown-status" in text and f"{report['sheet']}!J3" in text
    assert all(th.get("scope") in ("col", "row") for th in page.all("th"))
    svg = page.all("svg")
    assert svg and svg[0]["role"] == "img" and svg[0]["aria-labelledby"] == "chart-title chart-desc"
    assert "FY2025: $1,234.50" in text  # the chart's text alternative


def test_the_page_is_self_contained_escaped_and_accessible(hostile):
    page_text = render(hostile.report, "html")
    assert "default-src 'none'" in page_text
    # Nothing from the network: the only URL is the SVG namespace.
    assert re.findall(r"https?://[^\"' )]+", page_text) == ["http://www.w3.org/2000/svg"]
    _check_page(Page(page_text), hostile.report)
    assert (hostile.run.path / "report" / "report.html").read_text() == page_text


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    missing_prerequisite("Chromium: apt-get install chromium (scripts/setup.sh does)")


def test_a_browser_renders_it(hostile, tmp_path):
    browser = _chromium()
    page = hostile.run.path / "report" / "report.html"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(common + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    _check_page(Page(dom.stdout), hostile.report)
    shot = tmp_path / "report.png"
    done = subprocess.run(common + [f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000  # a page with text and a chart, not a blank one
