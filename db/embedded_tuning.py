"""Memory settings the embedded server starts with (shared_buffers, effective_cache_size, work_mem).

PostgreSQL's own defaults (128 MB of shared_buffers) predate the working set of a vector
catalog: at 40k items the vectors and the HNSW index are ~160 MB, at 1M ~4 GB, and every
page outside shared_buffers is a copy from the OS page cache per read (measured in
docs/serving.md#filtered-queries-the-planner-and-shared_buffers). `auto` sizes shared_buffers
to a quarter of the machine's memory (at least 128 MB, at most 8 GB) and effective_cache_size
to three quarters; the server only touches the shared memory it fills, so an idle or small
catalog costs no more than before. A value such as `2GB` fixes one; the settings apply when
the server starts (`pgrec db stop && pgrec db start` after a change).
"""

from __future__ import annotations

import os
import re

from db.settings import get_settings

MIB = 1024 * 1024
SHARED_MIN = 128 * MIB
SHARED_MAX = 8 * 1024 * MIB
_SIZE = re.compile(r"^\d+(kB|MB|GB|TB)?$")


def machine_memory() -> int:
    """Physical memory in bytes (the cgroup limit when a smaller one is set)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def _mb(n: int) -> str:
    return f"{n // MIB}MB"


def _checked(name: str, value: str) -> str:
    """A PostgreSQL memory size (`512MB`, `4GB`, plain kB); anything else fails at start."""
    if not _SIZE.match(value):
        raise ValueError(f"PGREC_PG_{name.upper()}={value!r}: expected auto or a size like 2GB")
    return value


def server_settings(memory: int | None = None) -> dict[str, str]:
    """The `-c` settings for the embedded server (primary and replicas)."""
    s = get_settings()
    ram = machine_memory() if memory is None else memory
    shared = min(SHARED_MAX, max(SHARED_MIN, ram // 4))
    chosen = {
        "shared_buffers": (s.pg_shared_buffers, _mb(shared)),
        "effective_cache_size": (s.pg_effective_cache_size, _mb(max(shared, ram * 3 // 4))),
        "work_mem": (s.pg_work_mem, "16MB"),
    }
    return {k: (auto if v == "auto" else _checked(k, v)) for k, (v, auto) in chosen.items()}
