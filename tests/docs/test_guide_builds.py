"""The guide (docs/, mkdocs.yml) builds strictly, and the README's links lead somewhere.

A strict build fails on a link to a missing page or anchor, on a page left out of the nav and on a nav
entry whose page is missing (mkdocs.yml's `validation`). Needs requirements-docs.txt (`make docs-deps`,
which `make test` runs).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from localstack import ROOT
from tests.support.guide_tools import require

pytestmark = pytest.mark.docs

README = ROOT / "README.md"
# [text](target) and ![alt](target); the target ends at the first blank or closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")



def readme_links() -> list[str]:
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)      # code blocks hold no links
    return [target for target in LINK.findall(text)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")]


def test_the_guide_builds_strictly(tmp_path):
    require("mkdocs")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for page in ("index.html", "logical-migration/index.html", "snapshot-to-aurora/index.html",
                 "benchmarks/index.html", "architecture/index.html", "testing/index.html"):
        assert (site / page).is_file(), page
    # the site is self-contained: no page asks a browser for a web font or anything else off this site
    for html in site.rglob("*.html"):
        assert "fonts.googleapis.com" not in html.read_text(), html


def test_every_relative_link_in_the_readme_resolves_to_a_file():
    links = readme_links()
    assert links, "the README links into the guide"
    missing = [target for target in links if not (ROOT / target.split("#")[0]).exists()]
    assert missing == [], f"README.md links to files that do not exist: {missing}"


def test_the_readme_is_a_first_screen_not_the_manual():
    lines = README.read_text().splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines; the details belong in docs/"
    head = "\n".join(lines[:8])
    assert "make demo" in head and "make test" in head


def test_the_benchmark_plots_the_guide_shows_are_there():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    for png in ("img/bench_time_per_method.png", "img/bench_seconds_per_gb.png"):
        assert png in text and (ROOT / "docs" / png).is_file(), png
