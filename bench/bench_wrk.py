"""One load pass with wrk (keep-alive, cycling request paths), and the parsing of its output.

wrk (Debian package `wrk`) is a C load generator: one thread drives all connections, each
connection kept alive as every client pool does. A Lua script reads the request paths from
a file (many item ids, cycled) and prints one `WRK_JSON {...}` line when done with the
request count, the duration, the errors and the latency percentiles, which `parse` reads.
When wrk is absent the peer benchmark falls back to bench/bench_load.py's client.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

MARK = "WRK_JSON "

# Each wrk thread runs its own Lua state: `init` reads the paths, `request` cycles them
# (threads start at different offsets), `done` prints the summary as one JSON line.
LUA = r"""
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(99)))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def parse(output: str) -> dict[str, Any]:
    """wrk's stdout -> requests, req/s, errors, p50/p90/p99 ms; ValueError without a summary."""
    for line in output.splitlines():
        if line.startswith(MARK):
            raw = json.loads(line[len(MARK) :])
            break
    else:
        raise ValueError(f"no {MARK.strip()} line in wrk output: {output[-300:]!r}")
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    ok = max(raw["requests"] - raw["status"], 0)
    out: dict[str, Any] = {
        "ok": ok,
        "errors": errors,
        "non_2xx": raw["status"],
        "seconds": round(seconds, 3),
        "rps": round(ok / seconds, 1) if seconds > 0 else None,
        "mean_ms": round(raw["mean_us"] / 1000, 3),
        "max_ms": round(raw["max_us"] / 1000, 3),
    }
    for p in (50, 90, 99):
        out[f"p{p}_ms"] = round(raw[f"p{p}_us"] / 1000, 3)
    sample = _error_sample(output)
    if sample:
        out["error_sample"] = sample
    return out


def _error_sample(output: str) -> str | None:
    """wrk's own error lines (socket errors, non-2xx counts), when it printed any."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if re.match(r"\s*(Socket errors|Non-2xx)", line)
    ]
    return "; ".join(lines) or None


def run(
    base_url: str, paths: list[str], *, connections: int, seconds: float, timeout_s: float = 10.0
) -> dict[str, Any]:
    """One wrk pass: `connections` kept-alive connections on one thread for `seconds`."""
    if not paths:
        raise ValueError("no request paths")
    with tempfile.TemporaryDirectory(prefix="pgrec-wrk-") as tmp:
        script, listing = Path(tmp) / "cycle.lua", Path(tmp) / "paths.txt"
        script.write_text(LUA)
        listing.write_text("\n".join(paths) + "\n")
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            str(script),
            base_url,
            "--",
            str(listing),
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 30, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip()[-300:]}")
    return {"client": "wrk", "concurrency": connections, **parse(done.stdout)}
