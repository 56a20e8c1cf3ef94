"""`pgrec serve` hands uvicorn the app factory with the options, via the environment."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import ENV_LAZY, ENV_REFRESH, app_from_env
from api.http_protocol import HeaderTimeoutProtocol
from db.settings import get_settings
from pgrec import serve_workers
from pgrec.cli import main


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uvicorn

    seen: list[dict[str, Any]] = []

    def fake_run(app: str, **kwargs: Any) -> None:
        seen.append({"app": app, **kwargs})

    def fake_workers(config: uvicorn.Config) -> None:  # --workers > 1: pgrec's supervisor
        names = ("host", "port", "workers", "timeout_keep_alive", "http", "factory")
        seen.append({"app": config.app, **{n: getattr(config, n) for n in names}})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setattr(serve_workers, "run", fake_workers)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@localhost/db")
    monkeypatch.setenv("PGREC_API_KEY", "k")
    monkeypatch.delenv("PGREC_DEV", raising=False)
    for name in (ENV_LAZY, ENV_REFRESH, "PROMETHEUS_MULTIPROC_DIR"):
        # setenv first so that monkeypatch restores the original (maybe absent) value after
        # `serve` sets it in os.environ.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return seen


def test_serve_runs_the_factory(
    calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    assert main(["serve", "--host", "0.0.0.0", "--port", "8123", "--workers", "3", "--lazy"]) == 0
    (call,) = calls
    assert call["app"] == "api.app:app_from_env" and call["factory"] is True
    assert (call["host"], call["port"], call["workers"]) == ("0.0.0.0", 8123, 3)
    # Idle and half-sent requests are dropped, not held open.
    assert call["timeout_keep_alive"] <= 10 and call["http"] is HeaderTimeoutProtocol
    assert os.environ[ENV_LAZY] == "1"
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"]  # workers share their metrics
    out = capsys.readouterr().out
    assert "curl 'http://localhost:8123/recommendations?" in out


def test_serve_defaults(calls: list[dict[str, Any]]) -> None:
    import os

    assert main(["serve"]) == 0
    assert (calls[0]["host"], calls[0]["port"], calls[0]["workers"]) == ("127.0.0.1", 8000, 1)
    assert os.environ[ENV_LAZY] == "0" and "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_serve_refuses_nonsense(calls: list[dict[str, Any]]) -> None:
    assert main(["serve", "--workers", "0"]) == 2
    assert main(["serve", "--refresh-interval", "0"]) == 2
    assert not calls


def test_serve_refuses_to_start_without_a_key(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PGREC_API_KEY")
    assert main(["serve"]) == 2
    assert not calls
    assert "PGREC_API_KEY is not set" in capsys.readouterr().err
    # The factory uvicorn runs refuses too (a worker started some other way).
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit, match="PGREC_API_KEY is not set"):
            app_from_env()
    finally:
        get_settings.cache_clear()


def test_dev_mode_serves_without_a_key(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGREC_API_KEY")
    monkeypatch.setenv("PGREC_DEV", "1")
    assert main(["serve"]) == 0 and len(calls) == 1
