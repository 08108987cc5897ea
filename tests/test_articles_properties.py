"""Property tests of the article reader: whatever bytes or YAML a file holds, reading it
ends in an Article or a CorpusError naming the file, quickly and in little memory.
"""

from __future__ import annotations

import os
import re
import string
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.articles import MAX_TITLE_CHARS, Article, CorpusError, read_article
from index.chunking import check_titles
from index.cleaning import clean_text

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Per example: the reader must not stall or balloon on any input (the files here are small;
# the size limit bounds real ones).
MAX_SECONDS = 2.0
MAX_PEAK_BYTES = 30 * 1024 * 1024

PROPERTY_SETTINGS = settings(
    # HYPOTHESIS_EXAMPLES=3000 for a thorough run before a release.
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "300")),
    deadline=MAX_SECONDS * 1000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def read_bounded(path: Path) -> Article | CorpusError:
    """read_article's result or its CorpusError; any other exception fails the test."""
    tracemalloc.start()
    try:
        try:
            result: Article | CorpusError = read_article(path, path.name)
        except CorpusError as error:
            result = error
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK_BYTES, f"{peak} bytes to read {path.stat().st_size} bytes"
    return result


def check_outcome(path: Path, outcome: Article | CorpusError) -> None:
    if isinstance(outcome, CorpusError):
        (problem,) = outcome.problems
        assert problem.startswith(f"{path}: "), problem
        assert "\n" not in problem
        return
    for value in (outcome.title, outcome.text, outcome.doc_id):
        assert isinstance(value, str) and value
        assert not CONTROL.search(value.replace("\n", "")), value
    for value in (outcome.published, outcome.outlet, outcome.url):
        assert value is None or (isinstance(value, str) and value and "\n" not in value)
    assert "\n" not in outcome.title and len(outcome.title) <= MAX_TITLE_CHARS
    if outcome.published is not None:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", outcome.published)
    try:  # the indexer's own check may refuse it, but only as a CorpusError
        check_titles([outcome], chunk_size=128)
    except CorpusError as error:
        assert error.problems[0].startswith(str(path))


@pytest.mark.parametrize("suffix", [".md", ".txt"])
@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=4096))
def test_arbitrary_bytes(tmp_path: Path, suffix: str, raw: bytes) -> None:
    path = tmp_path / f"article{suffix}"
    path.write_bytes(raw)
    check_outcome(path, read_bounded(path))


@PROPERTY_SETTINGS
@given(body=st.text(max_size=2000), front=st.text(max_size=500))
def test_arbitrary_text_around_front_matter_markers(tmp_path: Path, body: str, front: str) -> None:
    path = tmp_path / "article.md"
    path.write_text(f"---\n{front}\n---\n{body}", encoding="utf-8", errors="surrogatepass")
    check_outcome(path, read_bounded(path))


# YAML built from the pieces that break readers: anchors and aliases, tags, flow and
# block collections, odd scalars, deep nesting, control characters, duplicate keys.
KEYS = st.sampled_from(
    ["title", "published", "outlet", "url", "content", "handler", "1", "? [a]", "<<", "x"]
)
SCALARS = st.one_of(
    st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "~",
            "null",
            "",
            "1984",
            "0x1F",
            "1e999",
            "-.inf",
            ".nan",
            "2021-08-14",
            "2021-02-30",
            "2021-13-45",
            "2021-08-14 09:30:00",
            "14/08/2021",
            "'quoted'",
            '"esc \\e]0;x\\a"',
            "|\n  block\n  text",
            ">\n  folded",
            "&a v",
            "*a",
            "!!int 5",
            "!!binary aGVsbG8=",
            "!!timestamp 2021-08-14",
            "!!python/object:os.system",
            "!!set {a, b}",
            "!!omap [a: 1]",
            "[a, b]",
            "{a: 1}",
            "[" * 40 + "]" * 40,
            "- x",
        ]
    ),
    st.text(alphabet=string.printable + "\x1b\x07\u202e\u2028é—", max_size=40),
)


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        key = draw(KEYS)
        value = draw(SCALARS)
        indent = " " * draw(st.sampled_from([0, 0, 0, 1, 2]))
        lines.append(f"{indent}{key}: {value}")
    if draw(st.booleans()):
        lines.append(f"title: {draw(SCALARS)}")
    return "\n".join(lines)


@PROPERTY_SETTINGS
@given(front=yaml_documents(), body=st.sampled_from(["Body.", "", "  \n", "Two.\n\nParas."]))
def test_arbitrary_yaml_front_matter(tmp_path: Path, front: str, body: str) -> None:
    path = tmp_path / "article.md"
    path.write_text(f"---\n{front}\n---\n{body}\n", encoding="utf-8")
    check_outcome(path, read_bounded(path))


# Any structure PyYAML can dump, shared sub-objects included (dumped as anchors and aliases).
def _leaves() -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=30),
        st.dates(),
        st.binary(max_size=10),
    )


STRUCTURES = st.recursive(
    _leaves(),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@PROPERTY_SETTINGS
@given(fields=st.dictionaries(KEYS, STRUCTURES, max_size=5), shared=st.booleans())
def test_any_dumped_yaml_structure(tmp_path: Path, fields: dict, shared: bool) -> None:
    if shared and fields:  # the same object twice: PyYAML writes an anchor and an alias
        fields["outlet"] = fields["title"] = next(iter(fields.values()))
    front = yaml.safe_dump(fields, allow_unicode=True)
    path = tmp_path / "article.md"
    path.write_text(f"---\n{front}---\nBody.\n", encoding="utf-8")
    check_outcome(path, read_bounded(path))


@PROPERTY_SETTINGS
@given(text=st.text(max_size=5000))
def test_cleaned_text_has_no_control_characters(text: str) -> None:
    cleaned = clean_text(text)
    assert not CONTROL.search(cleaned.replace("\n", ""))
    assert cleaned == cleaned.strip()
