"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here):
the YAML structure the deployment relies on, and `docker compose config` / `docker-compose
config` when a compose client is installed (`apt-get install docker-compose` gives 1.29)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def test_services_and_volumes(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"qdrant", "vllm", "api", "ingest"}
    assert {"qdrant_data", "ossqa_data"} <= set(compose["volumes"])


def test_qdrant_keeps_data_in_a_volume_and_has_a_healthcheck(compose: dict[str, Any]) -> None:
    qdrant = compose["services"]["qdrant"]
    assert "qdrant_data:/qdrant/storage" in qdrant["volumes"]
    check = " ".join(qdrant["healthcheck"]["test"])
    assert "/readyz" in check and "6333" in check


def test_vllm_gets_the_gpu_model_and_optional_lora(compose: dict[str, Any]) -> None:
    vllm = compose["services"]["vllm"]
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert vllm["environment"]["VLLM_MODEL"].startswith("${VLLM_MODEL:-")
    assert vllm["environment"]["VLLM_LORA_PATH"] == "${VLLM_LORA_PATH:-}"
    script = " ".join(vllm["command"])
    for flag in (
        "vllm serve",
        "--enable-lora",
        "--lora-modules",
        '"ossqa=$$VLLM_LORA_PATH"',
        "--served-model-name ossqa",
    ):
        assert flag in script
    assert "/health" in " ".join(vllm["healthcheck"]["test"])


def test_api_waits_for_healthy_qdrant_and_vllm(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["depends_on"] == {
        "qdrant": {"condition": "service_healthy"},
        "vllm": {"condition": "service_healthy"},
    }
    env = api["environment"]
    assert env["QDRANT_URL"] == "http://qdrant:6333"
    assert env["LLM_BASE_URL"] == "http://vllm:8000/v1"
    assert env["LLM_MODEL"] == "ossqa"  # the name vllm serves, with or without the adapter
    assert set(env) <= {name.upper() for name in Settings.model_fields}
    assert api["env_file"] == ".env"
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert api["command"][:2] == ["ossqa", "serve"]


def test_ingest_is_a_one_off_job(compose: dict[str, Any]) -> None:
    ingest = compose["services"]["ingest"]
    assert ingest["profiles"] == ["ingest"]  # not started by `docker compose up`
    assert ingest["restart"] == "no"
    assert "ossqa ingest" in " ".join(ingest["command"])
    assert ingest["depends_on"] == {"qdrant": {"condition": "service_healthy"}}
    assert ingest["environment"]["QDRANT_URL"] == "http://qdrant:6333"


def test_every_compose_variable_is_a_setting_or_documented() -> None:
    text = COMPOSE.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    settings = {name.upper() for name in Settings.model_fields}
    undocumented = sorted(v for v in used - settings if not re.search(rf"#\s+{v}\b|{v},|, {v}\b", header))
    assert undocumented == []


def test_dockerfile_installs_the_cpu_torch_and_serves() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert "HF_HUB_OFFLINE=1" in text
    assert 'CMD ["ossqa", "serve", "--host", "0.0.0.0", "--port", "8000"]' in text
    assert "HEALTHCHECK" in text and "USER ossqa" in text


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_validates(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no compose client (apt-get install docker-compose)")
    # A scratch copy with .env made from .env.example, as a new user would have it.
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [*cli, "-f", str(tmp_path / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["services"]["api"]["environment"]["LLM_BASE_URL"] == "http://vllm:8000/v1"
    # `config` keeps $$ escaped: the container shell, not compose, expands it.
    assert "ossqa=$$VLLM_LORA_PATH" in " ".join(resolved["services"]["vllm"]["command"])
