"""The heading-aware Markdown chunker: sections, breadcrumbs, code fences, CJK, containers, sizes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ingest_helpers import section_doc

from ingest.chunking import (
    chunk_markdown,
    count_tokens,
    first_heading,
    parse_sections,
    slugify,
    split_front_matter,
    unwrap_containers,
)
from ingest.parsers.markdown import MarkdownParser
from ingest.pipeline import ChunkParams, chunk_document
from ingest.types import Document

FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})", re.M)


def words(n: int, word: str = "lorem") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def test_breadcrumb_follows_heading_levels_and_anchor_is_the_section_slug() -> None:
    md = (
        "# Tutorial\n\nIntro.\n\n## CORS\n\nWhat CORS is.\n\n"
        "### Use CORSMiddleware\n\nAdd the middleware.\n\n"
        "## Background Tasks\n\nRun work later.\n"
    )
    chunks = chunk_markdown(md)
    assert [(c.breadcrumb, c.anchor, c.text) for c in chunks] == [
        ("Tutorial", "tutorial", "Intro."),
        ("Tutorial > CORS", "cors", "What CORS is."),
        ("Tutorial > CORS > Use CORSMiddleware", "use-corsmiddleware", "Add the middleware."),
        # A sibling section pops the deeper heading off the breadcrumb.
        ("Tutorial > Background Tasks", "background-tasks", "Run work later."),
    ]


def test_custom_anchor_from_attribute_list_and_setext_headings() -> None:
    md = "Guide\n=====\n\nTop.\n\n## Settings { #custom-id }\n\nBody.\n\nDetails\n-------\n\nMore.\n"
    chunks = chunk_markdown(md)
    assert [(c.breadcrumb, c.anchor) for c in chunks] == [
        ("Guide", "guide"),
        ("Guide > Settings", "custom-id"),
        ("Guide > Details", "details"),
    ]


def test_text_before_the_first_heading_gets_the_document_title() -> None:
    chunks = chunk_markdown("Some preface.\n\n# Real\n\nBody.\n", title="Doc Title")
    assert chunks[0].breadcrumb == "Doc Title"
    assert chunks[0].text == "Some preface."


def test_a_chunk_never_spans_two_sections_without_merging() -> None:
    md = "# A\n\n" + words(100, "alpha") + "\n\n# B\n\n" + words(100, "beta") + "\n"
    chunks = chunk_markdown(md, target_tokens=250, max_tokens=400)
    assert len(chunks) == 2
    assert "alpha0" in chunks[0].text and "beta0" not in chunks[0].text


def test_fenced_code_is_never_split_even_when_over_the_limit() -> None:
    code = "\n".join(f"value_{i} = compute({i})  # step {i}" for i in range(300))
    md = f"# Big\n\n{words(50)}\n\n```python\n{code}\n```\n\n{words(50, 'after')}\n"
    chunks = chunk_markdown(md, target_tokens=100, max_tokens=200)
    holding = [c for c in chunks if "value_0 = compute(0)" in c.text]
    assert len(holding) == 1
    assert f"```python\n{code}\n```" in holding[0].text
    assert count_tokens(holding[0].text) > 200  # kept whole although it is too big
    for c in chunks:  # every chunk has balanced fences
        assert len(FENCE_RE.findall(c.text)) % 2 == 0


@pytest.mark.parametrize(
    ("fence_open", "fence_close"),
    [("```bash", "```"), ("~~~", "~~~"), ("````markdown", "````")],
)
def test_hash_lines_inside_code_fences_are_not_headings(fence_open: str, fence_close: str) -> None:
    inner = "```python\nx = 1\n```\n" if fence_open.startswith("````") else ""
    md = (
        f"# Setup\n\n## Install\n\nRun this:\n\n{fence_open}\n# install the package\n{inner}"
        f"pip install ossqa\n## not a heading either\n{fence_close}\n\nDone.\n"
    )
    sections = parse_sections(md)
    assert [s.headings for s in sections] == [("Setup", "Install")]
    (chunk,) = chunk_markdown(md)
    assert chunk.breadcrumb == "Setup > Install"
    assert "# install the package" in chunk.text and "## not a heading either" in chunk.text
    assert chunk.text.endswith("Done.")


def test_unterminated_fence_keeps_the_rest_as_one_block() -> None:
    md = "# A\n\nText.\n\n```python\n# comment\nx = 1\n"
    chunks = chunk_markdown(md)
    assert len(chunks) == 1 and "# comment\nx = 1" in chunks[0].text


def test_cjk_text_is_counted_per_character_and_split_at_sentence_ends() -> None:
    sentence = "这是一个关于依赖注入的很长的中文句子，它解释了如何在路径操作中使用依赖项。"
    md = "# 依赖项\n\n" + sentence * 40 + "\n"
    chunks = chunk_markdown(md, target_tokens=150, max_tokens=300)
    assert count_tokens(sentence) == len(re.findall(r"[\u3400-\u9fff]", sentence))
    assert len(chunks) > 1
    for c in chunks:
        assert c.breadcrumb == "依赖项"
        assert count_tokens(c.text) <= 300
        assert c.text.endswith("。")  # cut between sentences, not inside one
    assert "".join(c.text for c in chunks) == sentence * 40  # nothing lost or altered


def test_cjk_heading_anchor_keeps_the_characters() -> None:
    assert slugify("使用 `TestClient`") == "使用-testclient"
    (chunk,) = chunk_markdown("# 测试\n\n## 使用 TestClient\n\n导入 TestClient。\n")
    assert chunk.breadcrumb == "测试 > 使用 TestClient"
    assert chunk.anchor == "使用-testclient"


def test_long_prose_is_split_at_sentences_without_changing_the_text() -> None:
    para = " ".join(f"Sentence {i} mentions version 3.{i} e.g. here." for i in range(120))
    chunks = chunk_markdown(f"# Notes\n\n{para}\n", target_tokens=100, max_tokens=150)
    assert all(count_tokens(c.text) <= 150 for c in chunks)
    assert " ".join(c.text for c in chunks) == para
    assert all(c.text.endswith(".") for c in chunks)


def test_mkdocs_admonitions_and_tabs_are_unwrapped() -> None:
    md = (
        "# Page\n\n"
        '!!! warning "Do not"\n    Never commit secrets.\n\n'
        "    ```bash\n    # not a heading\n    export X=1\n    ```\n\n"
        '=== "Python 3.10+"\n\n    ```python\n    x: int | None = None\n    ```\n\n'
        '=== "Python 3.8+"\n\n    ```python\n    x: Optional[int] = None\n    ```\n\n'
        "??? tip\n    Collapsed tip.\n\nAfter.\n"
    )
    text = unwrap_containers(md)
    assert "Warning: Do not:" in text and "Python 3.10+:" in text and "Tip:" in text
    assert "!!!" not in text and "===" not in text and "???" not in text
    # Content is dedented, so fences are real fences again and their '#' lines stay code.
    assert "```bash\n# not a heading\nexport X=1\n```" in text
    (chunk,) = chunk_markdown(md)
    assert chunk.breadcrumb == "Page"
    assert "x: Optional[int] = None" in chunk.text and chunk.text.endswith("After.")


def test_docusaurus_and_pymdownx_blocks_are_unwrapped() -> None:
    md = "# P\n\n:::tip Pro tip\nUse the cache.\n:::\n\n/// note | Heads up\nRead this.\n///\n"
    text = unwrap_containers(md)
    assert ":::" not in text and "///" not in text
    assert "Tip: Pro tip" in text and "Use the cache." in text
    assert "Note: Heads up" in text and "Read this." in text


def test_container_syntax_inside_a_code_fence_is_left_alone() -> None:
    md = '````markdown\n```python\nx = 1\n```\n!!! note "inside"\n    kept as is\n````\n'
    assert unwrap_containers(md) == md.rstrip("\n")


def test_mkdocstrings_directive_keeps_the_symbol_name() -> None:
    assert unwrap_containers("::: fastapi.encoders.jsonable_encoder") == "`fastapi.encoders.jsonable_encoder`"


def test_front_matter_gives_the_title_and_is_not_chunked(tmp_path: Path) -> None:
    raw = "---\ntitle: 'Deploy with Docker'\nsidebar_position: 3\n---\n\n# Docker\n\nBuild the image.\n"
    meta, body = split_front_matter(raw)
    assert meta == {"title": "Deploy with Docker", "sidebar_position": "3"}
    assert body.startswith("# Docker")
    path = tmp_path / "docker.md"
    path.write_text(raw, encoding="utf-8")
    doc = MarkdownParser().parse(path, "docker.md")
    assert doc.title == "Deploy with Docker"
    chunks = chunk_document("p", doc)
    assert all("sidebar_position" not in c.text for c in chunks)


def test_first_heading_skips_code() -> None:
    assert first_heading("```bash\n# comment\n```\n\n## Real Title\n") == "Real Title"


def test_html_comments_are_dropped() -> None:
    (chunk,) = chunk_markdown("# A\n\n<!-- hidden\nnote -->Visible.\n")
    assert chunk.text == "Visible."


def test_short_sections_merge_with_their_headings_kept_in_the_text() -> None:
    md = (
        "# Guide\n\n## One\n\nFirst short section.\n\n## Two\n\nSecond short section.\n\n## Three\n\n"
        + words(300)
    )
    chunks = chunk_markdown(md, target_tokens=250, max_tokens=400, min_tokens=150)
    first = chunks[0]
    assert first.breadcrumb == "Guide"  # the sections' common parent
    assert first.anchor == "one"  # links to where the chunk starts
    assert "## One\n\nFirst short section.\n\n## Two\n\nSecond short section." in first.text
    assert all(count_tokens(c.text) <= 400 for c in chunks)


def test_merging_never_splits_code_and_stays_within_the_limit() -> None:
    sections = "".join(
        f"## S{i}\n\nShort text {i}.\n\n```python\n# code {i}\nprint({i})\n```\n\n" for i in range(30)
    )
    chunks = chunk_markdown("# Many\n\n" + sections, target_tokens=250, max_tokens=120, min_tokens=100)
    assert len(chunks) > 1
    for c in chunks:
        assert count_tokens(c.text) <= 120
        assert len(FENCE_RE.findall(c.text)) % 2 == 0


def test_chunk_sizes_on_a_realistic_page_fall_in_the_target_range() -> None:
    """Sections of mixed size: most chunks land in 150-400 tokens, none above the limit."""
    parts = ["# Reference"]
    sizes = [20, 35, 60, 15, 240, 520, 80, 10, 45, 700, 30, 25, 150, 90]
    for i, n in enumerate(sizes):
        parts += [f"## Topic {i}", ". ".join(words(10, f"t{i}w") for _ in range(n // 10)) + "."]
    doc = Document(path="ref.md", text="\n\n".join(parts), title="Reference")
    chunks = chunk_document("p", doc, params=ChunkParams(target_tokens=250, max_tokens=400, min_tokens=150))
    tokens = [count_tokens(c.text) for c in chunks]
    assert max(tokens) <= 400
    within = sum(150 <= t <= 400 for t in tokens) / len(tokens)
    assert within >= 0.75, tokens
    # Every word of the page is still there, in order.
    all_text = "\n".join(c.text for c in chunks)
    assert all(f"t{i}w0" in all_text for i in range(len(sizes)))


def test_chunking_is_deterministic() -> None:
    md = section_doc("determinism", sections=6, words=90)
    assert chunk_markdown(md, min_tokens=150) == chunk_markdown(md, min_tokens=150)
