"""Articles: reading the corpus folder into validated, cleaned articles.

A corpus is a folder of `.md` files with YAML front matter (`title` required;
`published`, `outlet`, `url` optional) or `.txt` files whose first line is the
title. Every problem is collected and reported at once, naming the file, so a
maintainer can fix a whole corpus in one pass; nothing is written until the
whole corpus is valid.

The corpus folder is trusted to hold articles, not to choose what else the
indexer reads: links that lead out of it, links to folders, FIFOs and other
special files are skipped with a warning, and every file is opened without
following a link, so nothing outside the folder can be indexed and quoted.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from frontmatter.default_handlers import YAMLHandler
from pydantic import BaseModel, ConfigDict, ValidationError

from index.cleaning import clean_line, clean_text, normalise, strip_control_characters
from index.errors import CorpusError

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = {".md", ".txt"}
# Files a corpus folder may hold that are not articles (its own README).
_NOT_ARTICLES = {"readme.md", "readme.txt"}

# Limits on one article, documented in the README. A news article is tens of
# kilobytes; a file a hundred times that is a mistake, and would take minutes
# and gigabytes to embed.
MAX_ARTICLE_BYTES = 500_000
MAX_TITLE_CHARS = 200
# Front matter holds four short fields; the caps bound the parser's work on any file.
MAX_FRONT_MATTER_CHARS = 20_000
MAX_FRONT_MATTER_DEPTH = 16


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


class FrontMatter(BaseModel):
    """The fields of an article's front matter, each text or absent.

    The YAML is read with every plain scalar as text (see _FrontMatterLoader), so
    `title: yes` is the title "yes"; lists, mappings and explicitly tagged values
    (`!!int 5`) are refused rather than stored as Python's rendering of them.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    title: str | None = None
    published: str | dt.datetime | dt.date | None = None  # not text only when tagged !!timestamp
    outlet: str | None = None
    url: str | None = None


_FRONT_MATTER_KEYS = set(FrontMatter.model_fields)


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML for front matter: no aliases, bounded nesting, plain scalars read as text.

    An alias makes a few bytes stand for an exponentially large value (ten levels
    of nine aliases is a billion strings), so aliases are refused outright. Only
    `null`, `~` and empty plain scalars resolve to anything but text: YAML 1.1's
    yes/no/on/off booleans, numbers and dates would turn a title into True or 1984
    into an int, and a date's validity is checked by `published` with a clear message.
    """

    yaml_implicit_resolvers: dict = {}  # noqa: RUF012 (the class attribute PyYAML reads)
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_FRONT_MATTER_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_FRONT_MATTER_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_FrontMatterLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


Fail = Callable[[str], CorpusError]


def load_corpus(corpus_dir: Path) -> list[Article]:
    """Read every article under `corpus_dir`, or raise CorpusError naming each bad file."""
    if not corpus_dir.is_dir():
        raise CorpusError([f"{corpus_dir}: corpus folder does not exist"])
    articles: list[Article] = []
    problems: list[str] = []
    for path, relative, real in _article_files(corpus_dir, problems):
        try:
            articles.append(read_article(path, relative, real_path=real))
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


def _article_files(corpus_dir: Path, problems: list[str]) -> list[tuple[Path, str, Path]]:
    """(path, id-path in the corpus, file to read) of each article file, in name order.

    A link is followed only to a regular file inside the corpus folder; anything
    else that is not a plain file or folder is skipped with a warning naming it.
    A folder that cannot be listed is added to `problems`.
    """
    root = corpus_dir.resolve()
    folders = [corpus_dir]
    found: list[tuple[Path, str, Path]] = []
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            problems.append(f"{folder}: folder cannot be read ({error.strerror})")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            relative = path.relative_to(corpus_dir).as_posix()
            if entry.is_dir(follow_symlinks=False):
                folders.append(path)
                continue
            if entry.name.lower() in _NOT_ARTICLES:
                continue
            real = _regular_file(path, root, entry)
            if real is None:
                continue
            if path.suffix.lower() not in ARTICLE_SUFFIXES:
                log.warning("%s: skipped, not a .md or .txt article", path)
                continue
            found.append((path, relative, real))
    return sorted(found)


def _regular_file(path: Path, root: Path, entry: os.DirEntry) -> Path | None:
    """The regular file to read for this entry, or None (with a warning saying why)."""
    if entry.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            log.warning("%s: skipped, a broken link (to %s)", path, os.readlink(path))
        elif not target.is_relative_to(root):
            log.warning("%s: skipped, a link to %s, outside the corpus folder", path, target)
        elif target.is_dir():
            log.warning("%s: skipped, links to folders are not followed", path)
        elif not target.is_file():
            log.warning("%s: skipped, a link to %s", path, _kind(target.stat().st_mode))
        else:
            return target
        return None
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError as error:
        log.warning("%s: skipped, cannot be read (%s)", path, error.strerror)
        return None
    if not stat.S_ISREG(mode):
        log.warning("%s: skipped, %s", path, _kind(mode))
        return None
    return path


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    return "not a regular file"


def read_article(path: Path, relative: str, real_path: Path | None = None) -> Article:
    """Parse one article file; `relative` (its path in the corpus) is its id unless it has a url.

    `real_path` is the file to read when `path` is a link inside the corpus; problems
    are reported against `path`, the name the maintainer sees in the folder.
    """

    def fail(problem: str) -> CorpusError:
        return CorpusError([f"{path}: {problem}"])

    raw = _read_bytes(real_path or path, fail)
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
        title_line, _, body = (
            content.replace("\r\n", "\n").replace("\r", "\n").strip().partition("\n")
        )
        fields = FrontMatter(title=title_line)

    title = clean_line(fields.title or "")
    if not title:
        raise fail("missing title" + (" in front matter" if path.suffix == ".md" else ""))
    if len(title) > MAX_TITLE_CHARS:
        raise fail(
            f"the title is {len(title)} characters long; titles may be at most "
            f"{MAX_TITLE_CHARS} (is the body on the title line?)"
        )
    text = clean_text(body)
    if not text:
        raise fail("article has a title but no body text")
    url = _optional_line(fields.url)
    return Article(
        doc_id=url or relative,
        title=title,
        text=text,
        published=_published(fields.published, fail),
        outlet=_optional_line(fields.outlet),
        url=url,
        source_path=str(path),
    )


def _read_bytes(path: Path, fail: Fail) -> bytes:
    """The file's bytes, refusing links, special files and files over the size limit.

    O_NOFOLLOW and the fstat check close the gap between listing the folder and
    reading it: a file swapped for a link or a FIFO meanwhile is refused, not opened.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise fail("is a link; it was replaced while the corpus was read") from None
        raise fail(f"cannot be read ({error.strerror})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise fail(_kind(info.st_mode))
        too_big = fail(
            f"is {info.st_size:,} bytes; articles may be at most {MAX_ARTICLE_BYTES:,} bytes "
            "(split it into several articles)"
        )
        if info.st_size > MAX_ARTICLE_BYTES:
            raise too_big
        raw = file.read(MAX_ARTICLE_BYTES + 1)  # the file may have grown since fstat
    if len(raw) > MAX_ARTICLE_BYTES:
        raise too_big
    return raw


def _parse_front_matter(content: str, path: Path, fail: Fail) -> tuple[FrontMatter, str]:
    handler = YAMLHandler()
    text = content.strip()
    if not handler.detect(text):
        raise fail("missing YAML front matter (a '---' block with at least a title)")
    try:
        block, body = handler.split(text)
    except ValueError:
        raise fail("broken front matter: the '---' block is not closed") from None
    if len(block) > MAX_FRONT_MATTER_CHARS:
        raise fail(
            f"front matter is {len(block):,} characters; at most {MAX_FRONT_MATTER_CHARS:,} "
            "(is the closing '---' missing?)"
        )
    try:
        metadata = yaml.load(block, Loader=_FrontMatterLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        # The block starts with the end of the '---' line, so its line 0 is the file's line 1.
        line = f" near line {where.line + 1}" if where else ""
        problem = getattr(error, "problem", None) or error
        raise fail(f"broken front matter{line}: {_one_line(problem)}") from None
    except ValueError as error:  # an explicitly tagged value that is not one (!!int x)
        raise fail(f"broken front matter: {_one_line(error)}") from None
    if not isinstance(metadata, dict) or not metadata:
        raise fail("broken front matter: the '---' block is empty or not a mapping of fields")
    unknown = sorted(str(key) for key in metadata if key not in _FRONT_MATTER_KEYS)
    if unknown:
        log.warning("%s: unknown front matter keys ignored: %s", path, unknown)
    known = {key: metadata[key] for key in _FRONT_MATTER_KEYS if key in metadata}
    try:
        fields = FrontMatter.model_validate(known)
    except ValidationError as error:
        raise CorpusError(
            [f"{path}: {_field_problem(known, e['loc'][0])}" for e in error.errors()][:1]
        ) from None
    return fields, body


def _one_line(message: object) -> str:
    """A parser's message on one line without control characters: it may quote the file."""
    return " ".join(strip_control_characters(str(message)).split())


def _field_problem(fields: dict[str, object], name: object) -> str:
    value = fields.get(str(name))
    kind = {
        list: "a list",
        dict: "a mapping",
        set: "a set",
        bool: "true/false",
        int: "a number",
        float: "a number",
        bytes: "binary data",
    }.get(type(value), type(value).__name__)
    shown = _one_line(repr(value))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"front matter field '{name}' must be text, not {kind} ({shown}); quote it if needed"


def _published(value: str | dt.date | None, fail: Fail) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = (value or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:  # a YAML-style timestamp, "2021-08-14 09:30:00" or "2021-08-14T09:30:00Z"
        return dt.datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise fail(
            f"published must be a real ISO date like 2021-08-14, got {text[:40]!r}"
        ) from None


def _optional_line(value: str | None) -> str | None:
    """A url or outlet on one line; not repaired like prose, which could split a url."""
    line = " ".join(normalise(value or "").split())
    return line or None
