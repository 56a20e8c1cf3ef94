"""Parser pieces shared by the `pgrec` command modules."""

from __future__ import annotations

from typing import Any


def command_group(sub: Any, name: str, *, help: str) -> Any:
    """The action subparsers of a `pgrec NAME ACTION` group added to `sub`."""
    group = sub.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")
