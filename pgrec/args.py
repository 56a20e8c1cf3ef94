"""Parser pieces shared by the `pgrec` command modules."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def command_group(sub: Any, name: str, *, help: str) -> Any:
    """The action subparsers of a `pgrec NAME ACTION` group added to `sub`."""
    group = sub.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def command(
    sub: Any, name: str, func: Handler, *, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """The parser of subcommand `name` of `sub`, which `func` runs."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(func=func)
    return parser


def flag(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    """An on/off option, off unless given."""
    parser.add_argument(name, action="store_true", help=help)


def number(
    parser: argparse.ArgumentParser, name: str, default: float, help: str, **kwargs: Any
) -> None:
    """A numeric option of its default's type; its help ends with `(default N)`."""
    parser.add_argument(
        name, type=type(default), default=default, help=f"{help} (default {default:g})", **kwargs
    )
