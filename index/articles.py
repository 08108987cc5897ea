"""Articles: reading the corpus folder into validated, cleaned articles.

A corpus is a folder of `.md` files with YAML front matter (`title` required;
`published`, `outlet`, `url` optional) or `.txt` files whose first line is the
title. Every problem is collected and reported at once, naming the file, so a
maintainer can fix a whole corpus in one pass; nothing is written until the
whole corpus is valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import yaml

from index.cleaning import clean_text
from index.errors import CorpusError

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = {".md", ".txt"}
# Files a corpus folder may hold that are not articles (its own README).
_NOT_ARTICLES = {"readme.md", "readme.txt"}
_FRONT_MATTER_KEYS = {"title", "published", "outlet", "url"}


@dataclass(frozen=True)
class Article:
    """One cleaned article. `doc_id` is stable across re-indexing."""

    doc_id: str
    title: str
    text: str
    published: str | None = None
    outlet: str | None = None
    url: str | None = None
    source_path: str = ""

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that ends up in the index changes."""
        digest = hashlib.sha256()
        for part in (self.title, self.published, self.outlet, self.url, self.text):
            digest.update((part or "").encode())
            digest.update(b"\0")
        return digest.hexdigest()[:32]


def load_corpus(corpus_dir: Path) -> list[Article]:
    """Read every article under `corpus_dir`, or raise CorpusError naming each bad file."""
    if not corpus_dir.is_dir():
        raise CorpusError([f"{corpus_dir}: corpus folder does not exist"])
    articles: list[Article] = []
    problems: list[str] = []
    for path in sorted(p for p in corpus_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() not in ARTICLE_SUFFIXES:
            log.warning("%s: skipped, not a .md or .txt article", path)
            continue
        if path.name.lower() in _NOT_ARTICLES:
            continue
        try:
            articles.append(read_article(path, relative.as_posix()))
        except CorpusError as error:
            problems.extend(error.problems)
    if not articles and not problems:
        problems.append(f"{corpus_dir}: no .md or .txt articles found")
    seen: dict[str, str] = {}
    for article in articles:
        if article.doc_id in seen:
            problems.append(
                f"{article.source_path}: same url as {seen[article.doc_id]} ({article.doc_id})"
            )
        seen[article.doc_id] = article.source_path
    if problems:
        raise CorpusError(problems)
    return articles


def read_article(path: Path, relative: str) -> Article:
    """Parse one article file; `relative` (its path in the corpus) is its id unless it has a url."""

    def fail(problem: str) -> CorpusError:
        return CorpusError([f"{path}: {problem}"])

    raw = path.read_bytes()
    if not raw.strip():
        raise fail("file is empty")
    if b"\0" in raw:
        raise fail("looks like a binary file, not text")
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise fail(f"not UTF-8 text (byte {error.start}); re-save it as UTF-8") from None

    if path.suffix.lower() == ".md":
        fields, body = _parse_front_matter(content, path, fail)
    else:
        title, _, body = content.strip().partition("\n")
        fields = {"title": title}

    title = clean_text(str(fields.get("title") or ""))
    if not title:
        raise fail("missing title" + (" in front matter" if path.suffix == ".md" else ""))
    text = clean_text(body)
    if not text:
        raise fail("article has a title but no body text")
    url = _optional_str(fields.get("url"))
    return Article(
        doc_id=url or relative,
        title=title,
        text=text,
        published=_published(fields.get("published"), fail),
        outlet=_optional_str(fields.get("outlet")),
        url=url,
        source_path=str(path),
    )


def _parse_front_matter(content: str, path: Path, fail) -> tuple[dict, str]:
    if not content.lstrip().startswith("---"):
        raise fail("missing YAML front matter (a '---' block with at least a title)")
    try:
        post = frontmatter.loads(content)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" near line {where.line + 1}" if where else ""
        raise fail(f"broken front matter{line}: {getattr(error, 'problem', error)}") from None
    except ValueError as error:  # YAML reads an unquoted 2021-02-30 as a date, and fails
        raise fail(f"published must be a real ISO date like 2021-08-14 ({error})") from None
    if not isinstance(post.metadata, dict) or not post.metadata:
        raise fail("broken front matter: the '---' block is not closed, empty or not a mapping")
    unknown = set(post.metadata) - _FRONT_MATTER_KEYS
    if unknown:
        log.warning("%s: unknown front matter keys ignored: %s", path, sorted(unknown))
    return post.metadata, post.content


def _published(value: object, fail) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise fail(f"published must be an ISO date like 2021-08-14, got {value!r}") from None


def _optional_str(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
