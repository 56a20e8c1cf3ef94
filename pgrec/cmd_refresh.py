"""`pgrec` commands of the refresh group: neighbour lists and clusters (filled in by its issue)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
