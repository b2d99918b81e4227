"""Properties of the chunker over generated Markdown (hypothesis): whatever mix of headings,
prose (English and Chinese), fenced code, admonitions and tabs a page has, no prose is lost, a
fenced code block is never split, and no chunk outgrows the limit except for code."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_markdown, count_tokens

MAX_TOKENS = 120  # small limits so generated pages need many chunks and long blocks get split
TARGET_TOKENS = 60


@st.composite
def page(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """(markdown, the prose words it holds, its top-level fenced code blocks). Every word is
    unique (w17, 码17), so the test can tell which one went missing."""
    counter = iter(range(10_000))
    lines: list[str] = []
    words: list[str] = []
    codes: list[str] = []

    def prose() -> str:
        out = []
        for _ in range(draw(st.integers(1, 90))):
            n = next(counter)
            word = draw(st.sampled_from([f"w{n}", f"码{n}"]))
            words.append(word)
            end = draw(st.sampled_from(["", "", "", ".", "。", ",", "\n"]))
            out.append(word + end)
        return " ".join(out).replace("\n ", "\n")

    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["heading", "prose", "prose", "code", "admonition", "tabs"]))
        if kind == "heading":
            lines += [f"{'#' * draw(st.integers(1, 4))} h{next(counter)}", ""]
        elif kind == "prose":
            lines += [prose(), ""]
        elif kind == "code":
            fence = draw(st.sampled_from(["```", "~~~", "````"]))
            # Lines that look like headings, admonitions or a shorter fence stay code.
            body = [
                draw(st.sampled_from([f"x{next(counter)} = 1", "# not a heading", '!!! note "no"', "```"]))
                if fence == "````"
                else draw(st.sampled_from([f"x{next(counter)} = 1", "# not a heading", '!!! note "no"']))
                for _ in range(draw(st.integers(1, 60)))
            ]
            block = "\n".join([f"{fence}python", *body, fence])
            codes.append(block)
            lines += [block, ""]
        elif kind == "admonition":
            lines += ['!!! note "Note"', "", "    " + prose().replace("\n", "\n    "), ""]
        else:
            lines += ['=== "Python 3.10+"', "", "    " + prose().replace("\n", "\n    "), ""]
    return "\n".join(lines), words, codes


@given(doc=page(), min_tokens=st.sampled_from([0, 30]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
def test_no_prose_lost_code_whole_sizes_bounded(
    doc: tuple[str, list[str], list[str]], min_tokens: int
) -> None:
    markdown, words, codes = doc
    chunks = chunk_markdown(
        markdown, title="Page", target_tokens=TARGET_TOKENS, max_tokens=MAX_TOKENS, min_tokens=min_tokens
    )
    texts = [c.text for c in chunks]
    assert all(t.strip() for t in texts), "an empty chunk"
    seen = {w for t in texts for w in t.replace("。", " ").replace(",", " ").replace(".", " ").split()}
    missing = [w for w in words if w not in seen]
    assert not missing, f"prose lost: {missing[:5]}"
    for code in codes:
        holders = [t for t in texts if code in t]
        assert len(holders) == 1, f"code block split or repeated ({len(holders)} chunks hold it whole)"
    for t in texts:
        if "```" not in t and "~~~" not in t:
            assert count_tokens(t) <= MAX_TOKENS, f"{count_tokens(t)} tokens of prose in one chunk"
