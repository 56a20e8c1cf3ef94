"""`pgrec embed`, `pgrec worker`, `pgrec models ...` and `pgrec jobs status`: the embeddings."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from pgrec.args import command, command_group, flag
from pgrec.errors import CommandError

# The jobs modules load torch-adjacent code: each command imports what it needs when it runs.


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    e = command(
        sub,
        "embed",
        _embed,
        help="embed every item that needs it, then exit",
        description="Embeds items whose vector is missing or stale for the model (default: "
        "the active one) and exits when none is needed. Safe to run next to workers.",
    )
    e.add_argument("--model", help="a registered model (default: the active one)")
    e.add_argument("--batch-size", type=int, help="items per transaction (default 256)")
    flag(e, "--no-progress", "log lines even on a terminal")

    w = command(
        sub,
        "worker",
        _worker,
        help="keep vectors current: LISTEN for changes, poll as a fallback",
        description="Runs until SIGTERM/SIGINT, embedding new and changed items within "
        "seconds. Start as many as you like, on any machine.",
    )
    w.add_argument(
        "--model",
        action="append",
        default=[],
        help="model to keep current (repeatable; default: whichever is active)",
    )
    w.add_argument("--batch-size", type=int, help="items per transaction (default 256)")
    w.add_argument("--poll-seconds", type=float, help="fallback poll in seconds (default 30)")
    w.add_argument(
        "--refresh-every",
        type=float,
        metavar="SECONDS",
        help="when idle, refresh co-occurrence and retrain the ranker at most this often "
        "(each skips when the interactions are unchanged; default off)",
    )

    msub = command_group(sub, "models", help="embedding model versions")
    add = command(msub, "add", _models_add, help="register a model and create its HNSW index")
    add.add_argument("name")
    add.add_argument(
        "--path", required=True, help="a model directory or package:NAME (or fake:DIM)"
    )
    act = command(
        msub, "activate", _models_activate, help="make a fully embedded model the active one"
    )
    act.add_argument("name")
    flag(act, "--force", "even if some items lack a vector or the neighbour lists change a lot")
    act.add_argument(
        "--min-overlap",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="refuse when neighbour overlap@10 with the active model is below this "
        "(0..1, default 0.5; 0 skips the check)",
    )
    drop = command(
        msub, "drop", _models_drop, help="delete an inactive model, its vectors and its index"
    )
    drop.add_argument("name")
    exp = command(
        msub,
        "export",
        _models_export,
        help="export a model to ONNX now (cached by weights under the data dir)",
    )
    exp.add_argument("name", nargs="?", help="a registered model (default: the active one)")
    flag(exp, "--int8", "also the int8 quantised file")
    exp.add_argument("--path", help="export this model path instead (no database needed)")
    command(msub, "list", _models_list, help="registered models and their coverage")

    jsub = command_group(sub, "jobs", help="background jobs")
    command(jsub, "status", _jobs_status, help="per model: items, embedded, needed, last run, rate")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT finish the batch in flight and stop; a second SIGINT stops at once."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    for s in previous:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Refusals and bad input print as one line (no traceback), exit code 2."""
    from db.embeddings import IncompleteCoverage

    try:
        yield
    except (ValueError, LookupError, IncompleteCoverage, FileNotFoundError) as err:
        raise CommandError(str(err)) from err


def _batch_size(given: int | None) -> int:
    from jobs.worker import DEFAULT_BATCH_SIZE

    if given is None:
        return DEFAULT_BATCH_SIZE
    if not 1 <= given <= 10_000:
        raise CommandError("--batch-size must be between 1 and 10000")
    return given


def _embed(args: argparse.Namespace) -> int:
    from db.engine import get_engine
    from jobs import progress
    from jobs.worker import run_embed

    batch_size = _batch_size(args.batch_size)
    shown = progress.LogProgress() if args.no_progress else progress.for_stream()
    with _user_errors(), _stop_on_signals() as stop:
        stats = run_embed(
            get_engine(),
            model_name=args.model,
            batch_size=batch_size,
            progress=shown,
            stop=stop,
        )
    print(
        f"embedded {stats.written} items for {stats.model} "
        f"(encoded={stats.encoded}, {stats.rate:.1f} items/s, run {stats.run_id})"
    )
    return 130 if stop.is_set() else 0


def _worker(args: argparse.Namespace) -> int:
    from db.engine import database_url, get_engine
    from jobs.worker import DEFAULT_POLL_SECONDS, run_worker

    if args.refresh_every is not None and args.refresh_every <= 0:
        raise CommandError("--refresh-every must be a number of seconds > 0")
    batch_size = _batch_size(args.batch_size)
    poll = DEFAULT_POLL_SECONDS if args.poll_seconds is None else args.poll_seconds
    with _user_errors(), _stop_on_signals() as stop:
        runs = run_worker(
            get_engine(),
            listen_url=database_url(),
            model_names=args.model,
            batch_size=batch_size,
            poll_seconds=poll,
            stop=stop,
            refresh_every=args.refresh_every,
        )
    for stats in runs.values():
        print(f"worker embedded {stats.written} items for {stats.model} (encoded={stats.encoded})")
    return 0


def _models_add(args: argparse.Namespace) -> int:
    from db.engine import get_engine
    from jobs.models import add_model

    with _user_errors():
        model, index = add_model(get_engine(), name=args.name, path=args.path)
    print(f"added {model.name} (dim {model.dim}, index {index})")
    print(f"fill it side by side: pgrec embed --model {model.name}")
    return 0


def _models_activate(args: argparse.Namespace) -> int:
    from db.engine import get_engine
    from jobs.models import activate_model
    from pgrec.errors import CommandError

    if not 0 <= args.min_overlap <= 1:
        raise CommandError("--min-overlap must be between 0 and 1")
    with _user_errors():
        cov = activate_model(
            get_engine(),
            name=args.name,
            force=args.force,
            min_overlap=args.min_overlap or None,
            on_drift=_print_drift,
        )
    print(f"active model: {args.name} ({cov.embedded}/{cov.items} items embedded)")
    return 0


def _print_drift(drift: Any) -> None:
    """The drift check's report: the figure, then the sample's biggest movers with titles."""
    print(
        f"neighbour overlap@{drift.k} {drift.old} -> {drift.new}: {drift.overlap:.3f} "
        f"over {drift.sample} sampled items"
    )
    for m in drift.movers:
        print(f"  {m.overlap:.1f}  [{m.item_id}] {m.title}")
        print(f"        was: {'; '.join(m.old)}")
        print(f"        now: {'; '.join(m.new)}")


def _models_drop(args: argparse.Namespace) -> int:
    from db.engine import get_engine
    from jobs.models import drop_model

    with _user_errors():
        deleted = drop_model(get_engine(), name=args.name)
    print(f"dropped {args.name}: {deleted} vectors deleted")
    return 0


def _models_export(args: argparse.Namespace) -> int:
    from db.embeddings import get_model
    from db.engine import get_engine
    from db.settings import get_settings
    from jobs.embedder import DEFAULT_MODEL_PATH
    from jobs.engines import export_path

    path, label = args.path, args.path
    if path is None:
        with _user_errors(), get_engine().connect() as conn:
            model = get_model(conn, name=args.name)
        path = model.path or get_settings().model_path or DEFAULT_MODEL_PATH
        label = model.name
    with _user_errors():
        export = export_path(path, int8=args.int8)
    cosines = {k: round(v, 6) for k, v in export.manifest.items() if k.startswith("min_cos")}
    same = "serves the same version" if export.same_version else "NOT the same version"
    print(f"{label}: ONNX in {export.directory} ({same}; {cosines})")
    return 0


def _models_list(args: argparse.Namespace) -> int:
    from db.drift import model_overlaps
    from db.engine import get_engine
    from jobs.models import list_models

    rows = list_models(get_engine())
    with get_engine().connect() as conn:
        overlaps = model_overlaps(conn=conn)
    print(
        f"{'model':<28} {'dim':>5} {'active':>6} {'embedded':>10} {'items':>8} {'overlap':>7}"
        "  index / path"
    )
    for r in rows:
        m = r.model
        overlap = overlaps.get(m.name, (None, None))[0]
        shown = "-" if overlap is None else f"{overlap:.2f}"
        print(
            f"{m.name:<28} {m.dim:>5} {'yes' if m.active else '':>6} "
            f"{r.coverage.embedded:>10} {r.coverage.items:>8} {shown:>7}"
            f"  {r.index or '-'} / {m.path or '-'}"
        )
    return 0


def _jobs_status(args: argparse.Namespace) -> int:
    from db.embeddings import embedding_status
    from db.engine import get_engine
    from db.job_runs import running_runs, sweep_stalled

    with get_engine().begin() as conn:
        swept = sweep_stalled(conn)
        rows = embedding_status(conn)
        running = running_runs(conn)
    print(
        f"{'model':<28} {'active':>6} {'items':>8} {'embedded':>9} {'needed':>7} "
        f"{'cover%':>7}  {'last run':<19} {'items/s':>8}"
    )
    for r in rows:
        last = r.last_run_at.strftime("%Y-%m-%d %H:%M:%S") if r.last_run_at else "-"
        rate = f"{r.last_run_rate:.1f}" if r.last_run_rate is not None else "-"
        print(
            f"{r.model:<28} {'yes' if r.active else '':>6} {r.items:>8} {r.embedded:>9} "
            f"{r.needed:>7} {r.coverage_pct:>7.2f}  {last:<19} {rate:>8}"
        )
    _print_runs(running, swept)
    return 0


def _print_runs(running: list[dict[str, Any]], swept: list[Any]) -> None:
    """Runs still marked running, and the stalled ones this command just marked failed."""
    for run in swept:
        beat = run.heartbeat_at.strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"swept: run {run.id} ({run.job}, pid {run.pid} on {run.host}) had no heartbeat "
            f"since {beat}: marked failed"
        )
    for run in running:
        beat = run["heartbeat_at"].strftime("%Y-%m-%d %H:%M:%S")
        state = "STALLED" if run["stalled"] else "running"
        print(f"{state}: run {run['id']} ({run['job']}, pid {run['pid']}), last heartbeat {beat}")
