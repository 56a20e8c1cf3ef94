"""api/memory.py: long-lived objects leave the collector's full passes, and nothing leaks."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from api.memory import freeze_long_lived, release_freed_memory


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def _collectable(obj: object) -> bool:
    """Whether the collector's generations hold `obj` (the permanent one is not among them)."""
    return any(o is obj for o in gc.get_objects())


def test_survivors_are_frozen_and_new_objects_are_not() -> None:
    kept = [Node() for _ in range(1000)]
    assert _collectable(kept[0])
    assert freeze_long_lived() >= len(kept)
    assert not _collectable(kept[0]) and not _collectable(kept[-1])
    later = Node()
    assert _collectable(later)  # what came after stays in the collector's generations


def test_a_cycle_frozen_earlier_is_freed_by_the_next_call() -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector can free it
    gone = weakref.ref(a)
    freeze_long_lived()  # frozen while alive (a read model in use)
    del a, b  # replaced: now garbage, but frozen
    gc.collect()
    assert gone() is not None  # a plain collection does not see frozen objects
    freeze_long_lived()  # the next install unfreezes, collects, freezes again
    assert gone() is None


def test_a_rebuild_collects_once_at_the_swap() -> None:
    """release_freed_memory (after a build) only trims: the cycles a build leaves are freed
    by the swap's freeze_long_lived, so a rebuild costs one full collection, not two."""
    gc.disable()  # no automatic pass between the two calls
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        release_freed_memory()
        assert gone() is not None
        freeze_long_lived()
        assert gone() is None
    finally:
        gc.enable()
