"""Who the DAGs belong to, and where their guide pages are: read at parse time (no import but os).

The guide is the repository's docs/ folder, built by MkDocs (`make docs`). A relative link in a DAG's doc_md
would resolve against the Airflow UI's own address and lead nowhere, and no address of a built guide is
known to every installation: so doc_md names the page's path in the repository, and when the dag-processor
has `PGFERRY_DOCS_URL` set (where you serve the built guide, e.g. https://docs.example.com/pgferry) that
name is also a link to the page there.
"""
from __future__ import annotations

import os

OWNER = "pgferry"
DOCS_URL_ENV = "PGFERRY_DOCS_URL"


def page_url(page: str, anchor: str = "", base: str | None = None) -> str | None:
    """The page's address in the built guide (MkDocs' directory URLs: `logical-migration.md` is served as
    `<base>/logical-migration/`), or None when no base is configured."""
    base = (os.environ.get(DOCS_URL_ENV, "") if base is None else base).strip().rstrip("/")
    if not base:
        return None
    stem = page.removesuffix(".md")
    path = "" if stem == "index" else f"{stem}/"
    return f"{base}/{path}" + (f"#{anchor}" if anchor else "")


def guide_line(page: str, title: str, anchor: str = "", base: str | None = None) -> str:
    """One Markdown line for a doc_md: the guide's page, by its path in the repository, linked when the
    guide's address is configured."""
    path = f"docs/{page}" + (f"#{anchor}" if anchor else "")
    url = page_url(page, anchor, base)
    if url:
        return f"**Guide**: [{title}]({url}) (`{path}` in the pgferry repository)."
    return f"**Guide**: {title}, `{path}` in the pgferry repository (`make docs` builds it)."
