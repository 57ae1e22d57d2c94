"""All configuration in one typed object, read from `RAGWAY_*` environment variables (or `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ConsistencyLevel = Literal["Strong", "Bounded", "Session", "Eventually"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGWAY_", env_file=".env", extra="ignore")

    # --- where the local stack keeps data, logs and pids -------------------------------------
    state_dir: Path = Field(Path(".ragway"), description="Data, logs and pids of the local stack")
    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "ragway" / "models",
        description="Where the default LLM is converted to a model folder once",
    )
    bind_host: str = Field("127.0.0.1", description="Interface every local-stack service binds to")

    # --- Milvus ------------------------------------------------------------------------------
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: str = ""
    milvus_port: int = 19530
    collection: str = "ragway_chunks"
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    search_ef: int = 64
    num_partitions: int = Field(16, description="Partitions the tenant partition key hashes into")
    # A finished job must be searchable at once (read-your-writes across processes), so searches
    # default to Strong; the local stack lowers proxy.timeTickInterval so Strong costs ~20 ms.
    search_consistency: ConsistencyLevel = "Strong"
    milvus_time_tick_ms: int = Field(20, description="proxy.timeTickInterval for the embedded server")

    # --- Redis / Celery ----------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_port: int = 6379
    worker_concurrency: int = 1
    # Restores a dead worker's unacked tasks within seconds instead of after the visibility timeout.
    unacked_restore_interval_s: int = 1
    # A dead worker's batch is re-delivered after this; running tasks renew it (ingest_worker/lease.py).
    visibility_timeout_s: int = 20
    dependency_wait_s: int = Field(600, description="How long a batch waits for Milvus/Redis to come back")
    task_time_limit_s: int = Field(1800, description="Hard limit for one ingest task (a batch of files)")
    file_time_limit_s: int = Field(300, description="Parsing one file longer than this fails the file")
    ingest_batch_files: int = Field(8, description="Files per ingest task: their chunks are embedded together")
    ingest_batch_bytes: int = Field(8 * 1024 * 1024, description="Bytes per ingest task (files are not split)")

    # --- ingestion ---------------------------------------------------------------------------
    chunk_size: int = 500
    chunk_overlap: int = 50
    embedding_model: str = Field("", description="Model folder or name; empty = bundled all-MiniLM-L6-v2")
    embedding_batch_size: int = 32
    embedding_threads: int = Field(0, description="torch threads for encoding; 0 = library default")
    max_file_bytes: int = 100 * 1024 * 1024
    max_files_per_upload: int = 1000
    max_archive_members: int = 20_000
    source_roots: list[Path] = Field(
        [], description="Server folders workers may ingest from directly, besides <state_dir>/sources"
    )
    default_tenant: str = "default"

    # --- generation (FastChat or any OpenAI-compatible endpoint) -----------------------------
    llm_base_url: str = "http://127.0.0.1:8000/v1"
    llm_api_key: str = "EMPTY"
    llm_model: str = "SmolLM2-135M-Instruct"
    llm_model_path: str = Field("", description="Model folder for FastChat; empty = converted SmolLM2")
    # FastChat picks a template from the folder name unless told; SmolLM2 speaks ChatML, and FastChat's
    # plain ChatML template is registered under the name qwen-7b-chat.
    llm_conv_template: str = Field("qwen-7b-chat", description="FastChat conversation template for the model")
    llm_max_tokens: int = 200
    llm_temperature: float = 0.0
    llm_timeout_s: float = 120.0
    fastchat_controller_port: int = 21001
    fastchat_worker_port: int = 21002
    fastchat_api_port: int = 8000
    run_fastchat: bool = Field(True, description="Start FastChat in the local stack (off for an external LLM)")

    # --- retrieval / answering ---------------------------------------------------------------
    top_k: int = 5
    context_chunks: int = Field(2, description="Chunks put into the LLM prompt (small models need few)")
    answer_min_score: float = Field(
        0.2, description="Below this cosine similarity a chunk is not relevant enough to answer from"
    )

    # --- gateway -----------------------------------------------------------------------------
    gateway_port: int = 8080
    requests_per_minute: int = Field(600, description="Per API key, shared by all gateway replicas")
    concurrent_jobs_per_key: int = Field(4, description="Unfinished ingest jobs one API key may have")
    max_request_bytes: int = Field(1024 * 1024 * 1024, description="Largest upload request (all its files)")
    request_timeout_s: float = Field(300.0, description="A request still running after this gets 504")
    chat_history_messages: int = Field(6, description="Earlier chat messages used to condense a follow-up")
    log_level: str = "INFO"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.bind_host}:{self.gateway_port}"

    @property
    def blob_dir(self) -> Path:
        return self.state_dir / "blobs"

    @property
    def allowed_source_roots(self) -> list[Path]:
        return [self.state_dir / "sources", *self.source_roots]


@lru_cache
def get_settings() -> Settings:
    return Settings()
