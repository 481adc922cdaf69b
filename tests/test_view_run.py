"""`python -m agent view` on an eval run: the terminal report, the HTML run page with its plots and task
pages, and both pages opened in a real headless browser (Debian's `chromium`; skipped without one)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def agent(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *arguments], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


class Elements(HTMLParser):
    """Every start tag with its attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


def assert_nothing_external(html: str) -> None:
    """No element loads anything from elsewhere: images are data: URIs, links stay on this machine."""
    for tag, attributes in elements(html):
        for name in ("src", "href", "action", "poster"):
            value = attributes.get(name) or ""
            assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:)?//", value, re.I), f"<{tag} {name}={value}> leaves the page"
            if tag == "img" and name == "src":
                assert value.startswith("data:image/png;base64,")
    assert "@import" not in html and "url(" not in html


def test_terminal_report_of_an_eval_run(eval_run: Path) -> None:
    shown = agent("view", str(eval_run))
    assert shown.returncode == 0, shown.stderr
    assert "code2inv/1" in shown.stdout and "code2inv/26" in shown.stdout and "1 (50%)" in shown.stdout


def test_terminal_view_of_houdini_shows_the_accepted_set_as_accepted(eval_run: Path) -> None:
    shown = agent("view", str(eval_run / "traces" / "code2inv__1.jsonl"))
    houdini_line = next(line for line in shown.stdout.splitlines() if "│ houdini" in line)
    assert "accepted in round" in houdini_line and "rejected" not in houdini_line


def test_run_page_has_counts_plots_and_links_to_task_pages(eval_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    done = agent("view", str(eval_run), "--html", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    images = [attributes for tag, attributes in elements(html) if tag == "img"]
    assert len(images) == 4 and {image["alt"] for image in images} >= {"Solve rate by source", "Verdicts over proposals"}
    links = [attributes["href"] for tag, attributes in elements(html) if tag == "a"]
    assert links == ["report_tasks/code2inv__1.html", "report_tasks/code2inv__26.html"]
    assert all((tmp_path / link).is_file() for link in links)
    assert_nothing_external(html)
    task_page = (tmp_path / links[0]).read_text()
    assert_nothing_external(task_page)
    assert "decides this proposal" in task_page and 'class="feedback"' in task_page
    assert page.stat().st_mode & 0o777 == 0o644


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def dump_dom(url: str, home: Path) -> str:
    """The page's DOM after its scripts ran, from a headless browser that may not reach the network."""
    command = [browser(), "--headless", "--disable-gpu", "--no-first-run", "--dump-dom",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={home}", url]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(browser() is None, reason="no headless browser here (Debian: apt-get install chromium)")
def test_pages_in_a_headless_browser(eval_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert agent("view", str(eval_run), "--html", str(page)).returncode == 0

    dom = dump_dom(page.as_uri() + "#status=refuted", tmp_path / "browser")
    rows = {attributes["data-status"]: "hidden" in attributes for tag, attributes in elements(dom)
            if tag == "tr" and attributes.get("class") == "task"}
    assert rows == {"solved": True, "refuted": False}  # the filter from the address ran
    assert "1 of 2 tasks" in dom
    assert sum(1 for tag, attributes in elements(dom) if tag == "img"
               and (attributes.get("src") or "").startswith("data:image/png;base64,")) == 4
    assert_nothing_external(dom)

    task_dom = dump_dom((tmp_path / "report_tasks" / "code2inv__1.html").as_uri() + "#verdict=accepted",
                        tmp_path / "browser")
    proposals = [(attributes["data-verdict"], "hidden" in attributes) for tag, attributes in elements(task_dom)
                 if tag == "tr" and attributes.get("class") == "proposal"]
    assert ("accepted", False) in proposals and ("rejected", True) in proposals
    assert all(hidden == (verdict != "accepted") for verdict, hidden in proposals)
    assert_nothing_external(task_dom)
