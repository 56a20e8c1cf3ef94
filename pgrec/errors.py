"""Errors of the `pgrec` command: what every command module may raise to the CLI."""

from __future__ import annotations


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit code 2."""
