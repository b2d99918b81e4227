"""Sources list what to ingest and yield Documents (or the reason one was skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import ParseError, SourceError
from ingest.parsers import parser_for
from ingest.types import Document

_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", "site", ".tox", ".mypy_cache"}
_ALWAYS = ("readme", "contributing")


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def list_folder(root: Path) -> list[Path]:
    """Files under `root` that a parser handles, README*/CONTRIBUTING* included, sorted."""
    if not root.exists():
        raise SourceError(f"{root} does not exist")
    if root.is_file():
        return [root]
    files = []
    for path in sorted(root.rglob("*")):
        rel_parts = path.relative_to(root).parts
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel_parts[:-1]) or not path.is_file():
            continue
        name = path.name.lower()
        if parser_for(path.suffix) or (name.startswith(_ALWAYS) and path.suffix == ""):
            files.append(path)
    return files


def iter_folder(root: Path, files: list[Path] | None = None) -> Iterator[Document | Skipped]:
    root = Path(root)
    base = root.parent if root.is_file() else root
    for path in files if files is not None else list_folder(root):
        rel = path.relative_to(base).as_posix()
        parser = parser_for(path.suffix) or parser_for(".txt")
        assert parser is not None
        try:
            yield parser.parse(path, rel)
        except ParseError as exc:
            yield Skipped(exc.path, exc.reason)
        except Exception as exc:  # a third-party parser failing on odd input must not stop the run
            yield Skipped(rel, f"{type(exc).__name__}: {exc}")
