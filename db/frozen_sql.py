"""Read a migration's frozen SQL files and refuse them when they changed after release."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "migrations" / "versions" / "sql"
CURRENT = ROOT / "db" / "sql"


def digest(revision: str) -> str:
    """sha256 over every file of migrations/versions/sql/<revision>, by name."""
    h = hashlib.sha256()
    for path in sorted((FROZEN / revision).glob("*.sql")):
        # Line endings folded: a checkout with CRLF is the same SQL.
        text = path.read_bytes().replace(b"\r\n", b"\n")
        h.update(path.name.encode() + b"\0" + text + b"\0")
    return h.hexdigest()


def load(revision: str, sha256: str) -> dict[str, str]:
    """{object name: SQL} of a migration's frozen files, checked against its recorded hash.

    db/sql links to these files, so an edit there would rewrite history; the hash turns
    that into an error instead of a migration that silently upgrades differently.
    """
    if digest(revision) != sha256:
        raise RuntimeError(
            f"migrations/versions/sql/{revision} changed after migration {revision} was "
            "written; frozen SQL never changes: restore it (git checkout) and redefine the "
            "function in a new migration (migrations/README.md)"
        )
    return {p.name.removesuffix(".sql"): p.read_text() for p in (FROZEN / revision).glob("*.sql")}


def current() -> dict[str, str]:
    """{object name: SQL} of the current definitions in db/sql (every group folder)."""
    return {p.name.removesuffix(".sql"): p.read_text() for p in sorted(CURRENT.rglob("*.sql"))}
