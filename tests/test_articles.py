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


# ---------------------------------------------------------------- hostile input


def billion_laughs(levels: int = 10, fan_out: int = 9) -> str:
    """Front matter whose title, expanded, is fan_out**levels strings (a billion by default)."""
    lines = ["---", f"a0: &a0 [{', '.join(['lol'] * fan_out)}]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * fan_out)}]")
    lines += [f"title: *a{levels - 1}", "---", "Body.", ""]
    return "\n".join(lines)


def test_front_matter_aliases_are_refused(tmp_path: Path) -> None:
    bad = write(tmp_path, "laughs.md", billion_laughs())
    assert len(bad.read_bytes()) < 1024
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert caught.value.problems == [
        f"{bad}: broken front matter near line 3: aliases (*name) are not allowed"
    ]


def test_harmless_anchor_without_alias_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\ntitle: &t Headline\n---\nBody.\n")
    (article,) = load_corpus(tmp_path)
    assert article.title == "Headline"


@pytest.mark.parametrize(
    ("front", "field", "kind"),
    [
        ("title: [a, b]", "title", "a list"),
        ("title: {a: 1}", "title", "a mapping"),
        ("title: !!int 5", "title", "a number"),
        ("title: !!bool yes", "title", "true/false"),
        ("title: !!binary aGVsbG8=", "title", "binary data"),
        ("title: T\nurl: [a, b]", "url", "a list"),
        ("title: T\noutlet: {name: x}", "outlet", "a mapping"),
        ("title: T\npublished: [2021-08-14]", "published", "a list"),
    ],
)
def test_front_matter_fields_must_be_text(
    tmp_path: Path, front: str, field: str, kind: str
) -> None:
    bad = write(tmp_path, "a.md", f"---\n{front}\n---\nBody.\n")
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{bad}: front matter field '{field}' must be text, not {kind}")


@pytest.mark.parametrize(
    ("value", "title"),
    [("yes", "yes"), ("1984", "1984"), ("1.50", "1.50"), ("2021-08-14", "2021-08-14")],
)
def test_plain_yaml_scalars_are_text(tmp_path: Path, value: str, title: str) -> None:
    """YAML 1.1 would make these True, 1984, 1.5 and a date; a title is the text written."""
    write(tmp_path, "a.md", f"---\ntitle: {value}\noutlet: no\n---\nBody.\n")
    (article,) = load_corpus(tmp_path)
    assert (article.title, article.outlet) == (title, "no")


@pytest.mark.parametrize("value", ["null", "~", ""])
def test_null_title_is_missing(tmp_path: Path, value: str) -> None:
    bad = write(tmp_path, "a.md", f"---\ntitle: {value}\n---\nBody.\n")
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert caught.value.problems == [f"{bad}: missing title in front matter"]


def test_deep_nesting_and_huge_front_matter_are_refused(tmp_path: Path) -> None:
    deep = write(
        tmp_path, "deep.md", "---\ntitle: T\nx: " + "[" * 5000 + "]" * 5000 + "\n---\nB.\n"
    )
    huge = write(tmp_path, "huge.md", "---\ntitle: T\nx: '" + "y" * 30_000 + "'\n---\nB.\n")
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    problems = dict(p.split(": ", 1) for p in caught.value.problems)
    assert "nested more than 16 levels deep" in problems[str(deep)]
    assert "front matter is 30,016 characters; at most 20,000" in problems[str(huge)]


def test_odd_keys_are_warned_about_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "a.md", "---\ntitle: T\n1: x\ncontent: y\nhandler: z\n---\nBody.\n")
    with caplog.at_level(logging.WARNING, logger="index.articles"):
        (article,) = load_corpus(tmp_path)
    assert article.title == "T"
    assert "unknown front matter keys ignored: ['1', 'content', 'handler']" in caplog.text


def test_article_size_limit(tmp_path: Path) -> None:
    from index.articles import MAX_ARTICLE_BYTES

    write(tmp_path, "fits.txt", "Fits\n" + "x" * (MAX_ARTICLE_BYTES - 5))
    big = write(tmp_path, "big.txt", "Big\n" + "x" * MAX_ARTICLE_BYTES)
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert caught.value.problems == [
        f"{big}: is 500,004 bytes; articles may be at most 500,000 bytes "
        "(split it into several articles)"
    ]


@pytest.mark.parametrize("name", ["long.md", "long.txt"])
def test_title_length_limit(tmp_path: Path, name: str) -> None:
    title = " ".join(["word"] * 130)
    body = f"---\ntitle: {title}\n---\nBody.\n" if name.endswith(".md") else f"{title}\nBody.\n"
    bad = write(tmp_path, name, body)
    write(tmp_path, "ok.md", f"---\ntitle: {'w' * 200}\n---\nBody.\n")
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert caught.value.problems == [
        f"{bad}: the title is 649 characters long; titles may be at most 200 "
        "(is the body on the title line?)"
    ]


def test_control_characters_and_escape_sequences_are_removed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.md",
        '---\ntitle: "Bad\\e]0;owned\\a title\\u202e"\noutlet: "X\\x1b[31m"\n---\n'
        "Para \x1b]0;pwned\x07one.\x1b[2J\n\nPara\x01\x7f\x9b two.\x0cThree\u2028four.\n",
    )
    (article,) = load_corpus(tmp_path)
    assert article.title == "Bad title"
    assert article.outlet == "X"
    assert article.text == "Para one.\n\nPara two.\nThree\nfour."
    for text in (article.title, article.text, article.outlet):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)


def test_strip_control_characters_keeps_text() -> None:
    from index.cleaning import strip_control_characters

    assert strip_control_characters("a\tb\nc\x1b[1;31md\x1b]8;;http://x\x1b\\e\x07") == "a\tb\ncde"
    # An OSC sequence that is never closed ends at the line, not the end of the text.
    assert strip_control_characters("a\x1b]0;title\nnext line") == "a\nnext line"


# ---------------------------------------------------------------- links and special files


def test_links_out_of_the_corpus_and_special_files_are_skipped_with_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import os

    outside = write(tmp_path, "outside/secret.txt", "Secret\nThe password is hunter2.\n")
    corpus = tmp_path / "corpus"
    write(corpus, "real.md", "---\ntitle: Real\n---\nBody.\n")
    links = {
        "passwd.txt": Path("/etc/passwd"),
        "secret.txt": outside,
        "relative.txt": Path("../outside/secret.txt"),
        "folder": tmp_path / "outside",
        "sub/up": Path(".."),
        "dangling.md": Path("nowhere.md"),
        "alias.md": Path("real.md"),  # inside the corpus: read like the file itself
    }
    for name, target in links.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).symlink_to(target)
    os.mkfifo(corpus / "fifo.md")
    with caplog.at_level(logging.WARNING, logger="index.articles"):
        articles = load_corpus(corpus)
    assert sorted(a.doc_id for a in articles) == ["alias.md", "real.md"]
    assert {a.text for a in articles} == {"Body."}
    warnings = {r.getMessage().split(": ", 1)[0]: r.getMessage() for r in caplog.records}
    for name in ("passwd.txt", "secret.txt", "relative.txt", "folder"):
        assert "outside the corpus folder" in warnings[str(corpus / name)]
    assert "links to folders are not followed" in warnings[str(corpus / "sub/up")]
    assert "broken link" in warnings[str(corpus / "dangling.md")]
    assert "a FIFO" in warnings[str(corpus / "fifo.md")]
    assert not any("hunter2" in a.text or "root:" in a.text for a in articles)


def test_corpus_folder_given_through_a_link_is_read(tmp_path: Path) -> None:
    real = tmp_path / "real-corpus"
    write(real, "a.md", "---\ntitle: A\n---\nBody.\n")
    (real / "b.md").symlink_to("a.md")
    (tmp_path / "corpus").symlink_to(real)
    assert sorted(a.doc_id for a in load_corpus(tmp_path / "corpus")) == ["a.md", "b.md"]


def test_file_replaced_by_a_link_is_refused(tmp_path: Path) -> None:
    """read_article opens without following links, whatever the folder listing said."""
    link = tmp_path / "a.txt"
    link.symlink_to("/etc/passwd")
    with pytest.raises(CorpusError) as caught:
        read_article(link, "a.txt")
    assert caught.value.problems == [
        f"{link}: is a link; it was replaced while the corpus was read"
    ]
