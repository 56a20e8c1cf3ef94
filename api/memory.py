"""Hands the memory a read-model build freed back to the OS (glibc keeps it in its arenas),
and keeps the collector's full passes off the request path.

A build holds the whole catalog as Python rows and arrays for a moment (gigabytes at 1M
items); once written and mapped, all of it is garbage, but glibc's malloc keeps freed
blocks in the arena of the thread that built, so the process's RSS/PSS stays at the peak.
`malloc_trim(0)` returns the free pages of every arena.

A ready API process tracks ~220k container objects that live as long as it does (the
framework, the query encoder's graph, the read model's lists). CPython's full collection
walks all of them: at 40k items it took 110-190 ms every ~11 s under load, stalling every
request in flight at once (the p99 of `pgrec bench`'s c=8 passes). `freeze_long_lived`
moves them to the permanent generation once they are in place (the query encoder loaded,
a read model swapped in), so later full passes walk only what requests allocated.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)


def freeze_long_lived() -> int:
    """Collect once, then exempt every surviving object from later collections.

    Called when a long-lived structure is installed. Unfreezing first lets the collection
    free cycles among objects frozen earlier (a replaced read model's), so repeated calls
    leak nothing; returns how many objects are frozen now.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def release_freed_memory() -> bool:
    """Trim malloc's arenas; False where there is no glibc.

    Called after the swap that installs a new base: a build's rows are freed by reference
    counting when the build lets go of them, and the swap's `freeze_long_lived` collects
    what cycles remain (the previous view's), so the trim returns both. No collection here:
    a second full pass took another ~0.1 s with the GIL held on every rebuild.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # musl, macOS: nothing to trim this way
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))
