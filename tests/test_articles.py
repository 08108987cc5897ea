"""The corpus loader: formats, skipped files, glued-sentence repair, bad inputs, content hash."""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from pathlib import Path

import pytest
from constants import STORY, STORY_ID

from index.articles import CorpusError, load_corpus, read_article
from index.cleaning import clean_text, repair_glued_sentences

GLUED = re.compile(r"\b[a-z]+[A-Z][a-z]+\b")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def by_id(articles) -> dict:
    return {a.doc_id: a for a in articles}


# ---------------------------------------------------------------- formats


def test_md_front_matter_fields_and_url_as_id(tmp_path: Path) -> None:
    write(
        tmp_path,
        "news/story.md",
        "---\n"
        "title: '  A  headline   with spaces '\n"
        "published: 2021-08-14\n"
        "outlet: Daily Example\n"
        "url: https://example.org/a\n"
        "---\n\nFirst paragraph.\n\nSecond paragraph.\n",
    )
    (article,) = load_corpus(tmp_path)
    assert article.doc_id == "https://example.org/a"
    assert article.url == "https://example.org/a"
    assert article.title == "A headline with spaces"
    assert article.published == "2021-08-14"
    assert article.outlet == "Daily Example"
    assert article.text == "First paragraph.\n\nSecond paragraph."
    assert article.source_path == str(tmp_path / "news" / "story.md")


def test_md_without_url_uses_relative_posix_path_as_id(tmp_path: Path) -> None:
    write(tmp_path, "2021/august/loach.md", "---\ntitle: Loach\n---\nBody text.\n")
    write(tmp_path, "top.md", "---\ntitle: Top\n---\nOther text.\n")
    articles = by_id(load_corpus(tmp_path))
    assert set(articles) == {"2021/august/loach.md", "top.md"}
    loach = articles["2021/august/loach.md"]
    assert loach.url is None
    assert loach.published is None
    assert loach.outlet is None


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2021-08-14", "2021-08-14"),  # YAML date
        ("'2021-08-14'", "2021-08-14"),  # quoted string
        ("' 2021-08-14 '", "2021-08-14"),  # string with blanks
        ("2021-08-14 09:30:00", "2021-08-14"),  # YAML datetime
        ("2021-08-14T09:30:00Z", "2021-08-14"),  # YAML datetime with zone
        ("''", None),
    ],
)
def test_published_is_normalised_to_iso_date(
    tmp_path: Path, published: str, expected: str | None
) -> None:
    write(tmp_path, "a.md", f"---\ntitle: T\npublished: {published}\n---\nBody.\n")
    (article,) = load_corpus(tmp_path)
    assert article.published == expected


def test_txt_first_line_is_title(tmp_path: Path) -> None:
    write(
        tmp_path,
        "plain.txt",
        "\n  Lighthouse keeper   rescues kayakers \n"
        "A keeper rowed out.\n\nThe coastguard praised him.\n",
    )
    (article,) = load_corpus(tmp_path)
    assert article.doc_id == "plain.txt"
    assert article.title == "Lighthouse keeper rescues kayakers"
    assert article.text == "A keeper rowed out.\n\nThe coastguard praised him."
    assert article.url is None


def test_utf8_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    write(
        tmp_path, "bom.md", "\ufeff---\r\ntitle: Café\r\n---\r\nLine one.\r\nLine two.\r\n".encode()
    )
    (article,) = load_corpus(tmp_path)
    assert article.title == "Café"
    assert article.text == "Line one.\nLine two."


def test_readme_and_dotfiles_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "real.md", "---\ntitle: Real\n---\nBody.\n")
    write(tmp_path, "README.md", "# About this corpus\n\nNo front matter here.\n")
    write(tmp_path, "sub/readme.txt", "notes\n")
    write(tmp_path, ".draft.md", "not even valid front matter")
    write(tmp_path, ".hidden/inside.md", b"\0\0binary")
    write(tmp_path, "sub/.notes.txt", "")
    articles = load_corpus(tmp_path)
    assert [a.doc_id for a in articles] == ["real.md"]


def test_other_file_types_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "real.txt", "Title\nBody.\n")
    write(tmp_path, "photo.jpg", b"\xff\xd8\xff\xe0\0\0JFIF")
    write(tmp_path, "notes.rst", "Some notes\n")
    with caplog.at_level(logging.WARNING, logger="index.articles"):
        articles = load_corpus(tmp_path)
    assert [a.doc_id for a in articles] == ["real.txt"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("photo.jpg" in m and "skipped" in m for m in warnings), warnings
    assert any("notes.rst" in m and "skipped" in m for m in warnings), warnings
    assert not any("real.txt" in m for m in warnings)


def test_same_url_twice_is_reported(tmp_path: Path) -> None:
    front = "---\ntitle: T\nurl: https://example.org/same\n---\nBody.\n"
    write(tmp_path, "one.md", front)
    write(tmp_path, "two.md", front)
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert "https://example.org/same" in str(caught.value)
    assert "two.md" in str(caught.value) or "one.md" in str(caught.value)


# ---------------------------------------------------------------- glued sentences


def test_real_story_has_no_glued_words_left(tmp_path: Path) -> None:
    shutil.copy(STORY, tmp_path / STORY_ID)
    (article,) = load_corpus(tmp_path)
    assert article.doc_id == STORY_ID
    assert article.published == "2021-08-14"
    assert article.title.startswith("Corbyn ally Ken Loach")
    assert GLUED.findall(article.title) == []
    assert GLUED.findall(article.text) == []
    assert "groups. In a series" in article.text
    assert "within party. Labour expelled" in article.text
    # The raw file really was glued: the repair did the work.
    raw = STORY.read_text(encoding="utf-8")
    assert "groupsIn a series" in raw


def test_repair_splits_only_when_both_halves_occur_alone() -> None:
    text = "Loach was expelled from the groupsIn a series of tweets. The groups met. In June."
    assert repair_glued_sentences(text) == (
        "Loach was expelled from the groups. In a series of tweets. The groups met. In June."
    )


@pytest.mark.parametrize(
    ("word", "text"),
    [
        ("McDonald", "Ronald McDonald opened the restaurant. Ronald smiled at the crowd."),
        ("McDonald", "The McDonald family met Donald at the fair."),  # only one half alone
        ("YouTube", "The video went viral on YouTube overnight. You could see it everywhere."),
        ("YouTube", "She posted it on YouTube. The Tube was closed that day."),
        ("iPhone", "He filmed it on his iPhone and sent it to the newsroom."),
        ("iPhone", "He filmed it on his iPhone. Phone lines were down."),
        ("DeSantis", "Governor DeSantis spoke in Tallahassee on Monday."),
        ("DeSantis", "Governor DeSantis spoke. Santis is not a word here."),
    ],
)
def test_real_camel_case_words_are_not_split(word: str, text: str) -> None:
    assert repair_glued_sentences(text) == text
    assert clean_text(text) == text
    assert word in clean_text(text)


def test_clean_text_normalises_spacing_and_line_endings() -> None:
    raw = "  Cafe\u0301  prices\u00a0rose.  \r\nSecond\tline.   \r\n\r\nThird.  "
    assert clean_text(raw) == "Café prices rose.\nSecond line.\n\nThird."


# ---------------------------------------------------------------- bad inputs

BAD_FILES = [
    pytest.param("empty.md", b"", "empty", id="empty-file"),
    pytest.param("blank.txt", b"  \n\t \n\n", "empty", id="whitespace-only"),
    pytest.param("binary.md", b"---\ntitle: T\n---\nhello\0world\0", "binary", id="binary-nul"),
    pytest.param("latin1.txt", b"Menu\ncaf\xe9 au lait\n", "UTF-8", id="not-utf8"),
    pytest.param(
        "broken-yaml.md",
        b"---\ntitle: [unclosed\noutlet: x\n---\nBody.\n",
        "broken front matter",
        id="broken-yaml",
    ),
    pytest.param(
        "unclosed.md",
        b"---\ntitle: Hello\n\nThe body starts but the block never closes.\n",
        "not closed",
        id="unclosed-front-matter",
    ),
    pytest.param(
        "no-title.md",
        b"---\noutlet: Daily Example\npublished: 2021-08-14\n---\nBody.\n",
        "missing title",
        id="front-matter-without-title",
    ),
    pytest.param(
        "empty-title.md", b"---\ntitle: ''\n---\nBody.\n", "missing title", id="empty-title"
    ),
    pytest.param(
        "no-front-matter.md",
        b"Just an article with no front matter.\n",
        "front matter",
        id="md-without-front-matter",
    ),
    pytest.param(
        "bad-date.md",
        b"---\ntitle: T\npublished: 14/08/2021\n---\nBody.\n",
        "published",
        id="bad-date-format",
    ),
    pytest.param(
        "bad-date-value.md",
        b"---\ntitle: T\npublished: 2021-13-45\n---\nBody.\n",
        "published",
        id="impossible-date",
    ),
    pytest.param(
        "title-only.md", b"---\ntitle: T\n---\n\n  \n", "no body", id="front-matter-no-body"
    ),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_FILES)
def test_bad_file_raises_corpus_error_naming_file_and_problem(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    write(tmp_path, "good.md", "---\ntitle: Good\n---\nGood body.\n")
    bad = write(tmp_path, name, content)
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert len(caught.value.problems) == 1, caught.value.problems
    (message,) = caught.value.problems
    assert str(bad) in message
    assert problem.lower() in message.lower()
    assert "good.md" not in str(caught.value)


def test_read_article_reports_the_path_it_was_given(tmp_path: Path) -> None:
    bad = write(tmp_path, "empty.md", b"")
    with pytest.raises(CorpusError) as caught:
        read_article(bad, "empty.md")
    assert caught.value.problems == [f"{bad}: file is empty"]


def test_empty_corpus_folder(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    with pytest.raises(CorpusError) as caught:
        load_corpus(folder)
    assert str(folder) in str(caught.value)
    assert "no .md or .txt articles" in str(caught.value)


def test_folder_with_only_readme_dotfiles_and_other_files_is_empty(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# corpus\n")
    write(tmp_path, ".gitkeep", "")
    write(tmp_path, "data.csv", "a,b\n")
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert str(tmp_path) in str(caught.value)
    assert "no .md or .txt articles" in str(caught.value)


def test_nonexistent_corpus_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CorpusError) as caught:
        load_corpus(missing)
    assert str(missing) in str(caught.value)
    assert "does not exist" in str(caught.value)


def test_corpus_path_that_is_a_file(tmp_path: Path) -> None:
    file = write(tmp_path, "single.md", "---\ntitle: T\n---\nBody.\n")
    with pytest.raises(CorpusError) as caught:
        load_corpus(file)
    assert str(file) in str(caught.value)


def test_all_bad_files_are_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "good.md", "---\ntitle: Good\n---\nGood body.\n")
    bad = {
        name: write(tmp_path, name, content)
        for name, content in [
            ("a-empty.md", b""),
            ("b-binary.txt", b"T\n\0\0"),
            ("c-latin1.txt", b"T\ncaf\xe9"),
            ("d-no-title.md", b"---\noutlet: X\n---\nBody.\n"),
            ("e-date.md", b"---\ntitle: T\npublished: someday\n---\nBody.\n"),
        ]
    }
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    problems = caught.value.problems
    assert len(problems) == len(bad)
    for path in bad.values():
        assert sum(str(path) in p for p in problems) == 1, (path, problems)
    message = str(caught.value)
    for path in bad.values():
        assert str(path) in message


# ---------------------------------------------------------------- content hash


def test_content_hash_tracks_indexed_content_only(tmp_path: Path) -> None:
    base_text = "---\ntitle: Title\npublished: 2021-08-14\n---\nThe body text.\n"
    first = read_article(write(tmp_path, "a/one.md", base_text), "a/one.md")

    # Same content elsewhere, with blanks and line endings that cleaning removes.
    moved = read_article(
        write(
            tmp_path,
            "b/moved.md",
            "---\r\ntitle:   Title  \r\npublished: '2021-08-14'\r\n---\r\n"
            "\r\nThe  body text.  \r\n",
        ),
        "b/moved.md",
    )
    assert moved.doc_id != first.doc_id
    assert moved.content_hash == first.content_hash
    assert read_article(tmp_path / "a/one.md", "a/one.md").content_hash == first.content_hash

    changed_text = dataclasses.replace(first, text="The body text has changed.")
    changed_title = dataclasses.replace(first, title="Another title")
    changed_date = dataclasses.replace(first, published="2021-08-15")
    hashes = {
        first.content_hash,
        changed_text.content_hash,
        changed_title.content_hash,
        changed_date.content_hash,
    }
    assert len(hashes) == 4
    # Moving text between title and body is a change, not the same bytes.
    assert (
        dataclasses.replace(first, title="Title The", text="body text.").content_hash
        != dataclasses.replace(first, title="Title", text="The body text.").content_hash
    )
    assert dataclasses.replace(first, source_path="/elsewhere").content_hash == first.content_hash
