"""docker-compose.yml is valid against the Compose spec and wires the services as documented."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_matches_the_compose_spec() -> None:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_and_dependencies() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert set(services) == {"db", "migrate", "api", "worker"}
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert "healthcheck" in services["db"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        dep = services[name]["depends_on"]["migrate"]["condition"]
        assert dep == "service_completed_successfully"
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert services["migrate"]["command"] == ["pgrec", "migrate"]


def test_compose_is_closed_by_default() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    env = services["api"]["environment"]
    # `${VAR:?}`: compose refuses to start without a key and a database password.
    assert env["PGREC_API_KEY"].startswith("${PGREC_API_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "ports" not in services["db"]  # Postgres stays on the compose network
    (published,) = services["api"]["ports"]
    assert published.startswith("${PGREC_API_BIND:-127.0.0.1}:")
