"""Hands the memory a read-model build freed back to the OS (glibc keeps it in its arenas).

A build holds the whole catalog as Python rows and arrays for a moment (gigabytes at 1M
items); once written and mapped, all of it is garbage, but glibc's malloc keeps freed
blocks in the arena of the thread that built, so the process's RSS/PSS stays at the peak.
`malloc_trim(0)` returns the free pages of every arena.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)


def release_freed_memory() -> bool:
    """Collect garbage and trim malloc's arenas; False where there is no glibc."""
    gc.collect()
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
