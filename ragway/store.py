"""The Milvus chunk store: one collection, explicit schema, HNSW over inner product of unit-length (halves of)
vectors, tenant/kb as partition key."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, NamedTuple

from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker
from pymilvus.client import ts_utils
from pymilvus.exceptions import MilvusException

from ragway import filters, timing
from ragway.errors import ConfigurationError, DependencyUnavailable
from ragway.freshness import WriteMarks
from ragway.lexical import has_cjk_half
from ragway.records import CJK_TEXT_KEY, Chunk, Hit, indexed_text
from ragway.settings import Settings

log = logging.getLogger(__name__)

TEXT_MAX_BYTES = 65_535
SOURCE_MAX_BYTES = 1_024
OUTPUT_FIELDS = ["chunk_id", "text", "kb", "doc_id", "source", "page", "chunk_index", "metadata"]

class StoredVersion(NamedTuple):
    content_hash: str
    chunk_count: int  # the count the document was written with
    present: int  # chunks found now
    job_id: str  # the job that wrote them ("" if several or none)

    @property
    def complete(self) -> bool:
        return self.chunk_count == self.present


# 1: text/embedding first, no version recorded; 2: ids, provenance, text, vector; 3: partition key `scope`
# (tenant/kb) instead of `tenant`; 4: inner product (IP) instead of COSINE, so one vector can pair two models
# (embedder.PairedEmbedder), each half's cosine exact
SCHEMA_VERSION = 4
# What a collection of an older schema lacks, by the version that brought it.
_SCHEMA_GAINS = ((2, "its fields are out of reading order (Attu)"),
                 (3, "without the kb partition key searches of a kb lose dense recall to other kbs' rows"),
                 (4, "its COSINE index cannot hold the CJK model's vectors beside the main one's"))
METRIC = "IP"  # of collections made now; older ones keep theirs (`ChunkStore.metric` reads it)
SCHEMA_TAG = f"[ragway schema v{SCHEMA_VERSION}]"
COLLECTION_DESCRIPTION = (
    f"{SCHEMA_TAG} Ragway document chunks: one row per text chunk of an ingested document, with its sentence "
    "embedding. Every read is filtered to one `tenant`; `kb` names the knowledge base inside a tenant and the "
    "partition key `scope` (tenant/kb) keeps a kb's rows together; all chunks of one file share `doc_id`."
)


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """Milvus VARCHAR limits count bytes; cut on a character boundary so CJK text stays valid."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def _upsert_keeps_partition_key(server_version: str) -> bool:
    """Milvus 2.3.x upserts rows of a partition-key collection into the wrong partition, where a
    filter on the key never finds them again (measured on 2.3.5); 2.4 fixed it."""
    digits = re.findall(r"\d+", server_version or "")
    if len(digits) < 2:
        return True  # milvus-lite and unknown builds: trust the native call
    return (int(digits[0]), int(digits[1])) >= (2, 4)


def _supports_full_text(server_version: str) -> bool:
    """Milvus 2.5 brought analyzers, the BM25 function and sparse vectors; milvus-lite 3.x has them
    too (reports e.g. `milvus_lite-3.2.2`); 2.3.5 (the local server) has none."""
    digits = re.findall(r"\d+", server_version or "")
    return len(digits) >= 2 and (int(digits[0]), int(digits[1])) >= (2, 5)


INDEX_NAME = "embedding_hnsw"
SCOPE_FIELD = "scope"


def scope(tenant: str, kb: str) -> str:
    """The partition key of a kb's rows. Tenant and kb names never hold "/" (filters._NAME)."""
    return f"{tenant}/{kb}"
SPARSE_FIELD = "text_sparse"  # BM25 sparse vector the server computes (full-text collections)
INDEXED_TEXT_FIELD = "indexed_text"  # the BM25 function's input: context + text (collections before it: `text`)
BM25_FUNCTION = "text_bm25"


@contextmanager
def _unavailable_on_error(action: str) -> Iterator[None]:
    """Milvus errors become `DependencyUnavailable`, which workers retry and the gateway maps to 503.
    The server's message goes to the log only: it quotes the expression, which users never see."""
    try:
        yield
    except MilvusException as exc:
        log.warning("Milvus %s failed: %s", action, exc)
        raise DependencyUnavailable(f"Milvus {action} failed (code {exc.code}); the log has the details") from exc


class ChunkStore:
    def __init__(self, settings: Settings, dim: int, client: MilvusClient | None = None,
                 write_marks: WriteMarks | None = None):
        self.settings = settings
        self.dim = dim
        self.collection = settings.collection
        self.write_marks = write_marks  # see ragway/freshness.py: read-your-writes for "LastWrite"
        try:
            self.client = client or MilvusClient(uri=settings.milvus_uri, token=settings.milvus_token)
            self.server_version = self.client.get_server_version()
            self.native_upsert = _upsert_keeps_partition_key(self.server_version)
        except MilvusException as exc:
            raise DependencyUnavailable(f"Milvus at {settings.milvus_uri} is unreachable: {exc}") from exc

    # --- schema ----------------------------------------------------------------------------------
    def _schema(self):
        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                       description=COLLECTION_DESCRIPTION)
        # Field order is what Attu shows: ids and provenance first, then the text, then the vector(s).
        s.add_field("chunk_id", DataType.VARCHAR, max_length=64, is_primary=True,
                    description="Chunk id (primary key): 32 hex characters, the first 128 bits of "
                                "sha256(tenant, kb, doc_id, chunk_index); re-ingesting a file overwrites its "
                                f"chunks instead of adding copies. {SCHEMA_TAG}")
        s.add_field("tenant", DataType.VARCHAR, max_length=64,
                    description="Owning tenant id: every query is filtered to one tenant")
        s.add_field("kb", DataType.VARCHAR, max_length=128,
                    description="Knowledge base name the document was ingested into, within its tenant")
        s.add_field(SCOPE_FIELD, DataType.VARCHAR, max_length=256, is_partition_key=True,
                    description="Partition key: tenant/kb. A kb's rows share a partition, so searching a kb "
                                "reads one partition and other kbs' rows do not thin out its HNSW graph")
        s.add_field("doc_id", DataType.VARCHAR, max_length=64,
                    description="Document id: 32 hex characters, the first 128 bits of sha256(tenant, kb, "
                                "source); shared by all chunks of one file")
        s.add_field("source", DataType.VARCHAR, max_length=SOURCE_MAX_BYTES,
                    description="Source file name or path as uploaded (UTF-8, at most 1,024 bytes), shown in "
                                "citations")
        s.add_field("page", DataType.INT64,
                    description="1-based page number in the source (0 when the format has no pages)")
        s.add_field("chunk_index", DataType.INT64,
                    description="Position of the chunk in its document, from 0")
        s.add_field("content_hash", DataType.VARCHAR, max_length=64,
                    description="sha256 of the source file's bytes, 64 hex characters: an unchanged file is "
                                "not re-ingested")
        s.add_field("created_at", DataType.INT64,
                    description="Ingestion time as Unix epoch milliseconds, UTC (e.g. 1764871200000 = "
                                "2025-12-04T18:00:00Z)")
        s.add_field("metadata", DataType.JSON,
                    description="Other metadata (JSON): file type, section title, context (document title or "
                                "file name and section, BM25-indexed before the text), chunk_count, job id")
        s.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES,
                    description="The chunk's text (UTF-8, at most 65,535 bytes) as shown to users, embedded and "
                                "given to the LLM")
        s.add_field("embedding", DataType.FLOAT_VECTOR, dim=self.dim,
                    description=f"Sentence embedding of `text` (after metadata.context where "
                                f"RAGWAY_EMBED_CHUNK_CONTEXT) by model {self.settings.embedding_model_id} ({self.dim} "
                                "dims). With +cjk: the main model's unit vector, then the CJK model's (zero for a "
                                "text without CJK script). HNSW index, inner product (IP)")
        if self._create_full_text():
            s.add_field(INDEXED_TEXT_FIELD, DataType.VARCHAR, max_length=TEXT_MAX_BYTES,
                        description="What BM25 indexes: the chunk's context, then its text",
                        **self._full_text_field_params())
            s.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR,
                        description=f"BM25 term weights of `{INDEXED_TEXT_FIELD}`, computed by Milvus "
                                    "(full-text search)")
            s.add_function(Function(name=BM25_FUNCTION, function_type=FunctionType.BM25,
                                    input_field_names=[INDEXED_TEXT_FIELD], output_field_names=[SPARSE_FIELD]))
        return s

    # --- full-text search (Milvus >= 2.5) ----------------------------------------------------------
    def _create_full_text(self) -> bool:
        """New collections get an analyzed `text` and a BM25 sparse field where the server can."""
        return self.settings.lexical_backend != "memory" and _supports_full_text(self.server_version)

    def _full_text_field_params(self) -> dict[str, Any]:
        if not self._create_full_text():
            return {}
        return {"enable_analyzer": True, "analyzer_params": dict(self.settings.full_text_analyzer)}

    def _field_names(self) -> set[str]:
        """The collection's fields (cached after the first look: they never change)."""
        if getattr(self, "_fields", None) is None:
            with _unavailable_on_error("describe"):
                info = self.client.describe_collection(self.collection)
            self._fields = {f.get("name") for f in info.get("fields", [])}
        return self._fields

    @property
    def metric(self) -> str:
        """The dense index's metric: IP (schema v4 on), COSINE before (cached after the first look)."""
        if getattr(self, "_metric", None) is None:
            with _unavailable_on_error("describe index"):  # milvus-lite names an index after its field
                names = self.client.list_indexes(self.collection, field_name="embedding")
                info = self.client.describe_index(self.collection, names[0]) if names else {}
            self._metric = str(info.get("metric_type") or METRIC).upper()
        return self._metric

    def has_full_text(self) -> bool:
        """Whether this collection was created with the BM25 function."""
        return SPARSE_FIELD in self._field_names()

    def has_indexed_text(self) -> bool:
        """Whether rows carry `indexed_text` (full-text collections made since chunks have a context)."""
        return self.has_full_text() and INDEXED_TEXT_FIELD in self._field_names()

    def has_scope(self) -> bool:
        """Whether rows carry the partition key `scope` (schema v3; before it, `tenant` was the key)."""
        return SCOPE_FIELD in self._field_names()

    def ensure_collection(self) -> None:
        """Create the collection and its index if missing, then load it."""
        with _unavailable_on_error(f"collection {self.collection}"):
            if not self.client.has_collection(self.collection):
                index = self.client.prepare_index_params()
                index.add_index(field_name="embedding", index_type="HNSW", metric_type=METRIC,
                                index_name=INDEX_NAME,
                                params={"M": self.settings.hnsw_m,
                                        "efConstruction": self.settings.hnsw_ef_construction})
                if self._create_full_text():
                    index.add_index(field_name=SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX",
                                    metric_type="BM25", index_name="text_bm25")
                self.client.create_collection(self.collection, schema=self._schema(), index_params=index,
                                              num_partitions=self.settings.num_partitions,
                                              consistency_level="Bounded")
                log.info("created collection %s", self.collection)
            else:
                self._check_embedding_model()
                self._check_schema_version()
            self.client.load_collection(self.collection)

    def schema_version(self) -> int:
        """The schema version recorded in the collection's description (1 when none is recorded)."""
        info = self.client.describe_collection(self.collection)
        # The collection's description carries it (Attu shows it); milvus-lite drops that, so the primary
        # key's description carries it too.
        described = " ".join([info.get("description", "") or ""]
                             + [f.get("description", "") or "" for f in info.get("fields", [])
                                if f.get("name") == "chunk_id"])
        found = re.search(r"\[ragway schema v(\d+)\]", described)
        return int(found.group(1)) if found else 1

    def _check_schema_version(self) -> None:
        """An older layout still works (same field names and types), so it is reported, not refused; the
        warning names the command that rebuilds it (ragway/reindex.py)."""
        version = self.schema_version()
        if version < SCHEMA_VERSION:
            missing = [text for since, text in _SCHEMA_GAINS if version < since]
            log.warning("collection %s has Ragway schema v%d (current v%d): it works, but %s; to rebuild it on the "
                        "current schema (behind an alias, rows kept), run: ragway kb reindex --collection %s",
                        self.collection, version, SCHEMA_VERSION, "; ".join(missing), self.collection)
        elif version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"collection {self.collection!r} has Ragway schema v{version}, newer than this code's "
                f"v{SCHEMA_VERSION}: upgrade Ragway or point RAGWAY_COLLECTION elsewhere")

    def _check_embedding_model(self) -> None:
        """Vectors of two models are not comparable (even at equal dims): refuse to mix them."""
        recorded = self.recorded_embedding_model()
        if recorded is None:
            return  # made before the model was recorded
        model, dim = recorded
        if (model, dim) != (self.settings.embedding_model_id, self.dim):
            raise ConfigurationError(
                f"collection {self.collection!r} holds {model} embeddings ({dim} dims), but this process embeds "
                f"with {self.settings.embedding_model_id} ({self.dim} dims): set RAGWAY_EMBEDDING_BACKEND / "
                f"RAGWAY_EMBEDDING_MODEL / RAGWAY_CJK_EMBEDDING_MODEL / RAGWAY_MULTILINGUAL_CHUNKS back (a "
                f"collection made before the CJK model was paired: RAGWAY_CJK_EMBEDDING_MODEL=), or re-embed its "
                f"chunks with the configured models: "
                f"ragway kb reindex --collection {self.collection}")

    def recorded_embedding_model(self) -> tuple[str, int] | None:
        """(model, dims) recorded in the embedding field's description, None if none is (milvus-lite)."""
        fields = self.client.describe_collection(self.collection).get("fields", [])
        described = next((f.get("description", "") for f in fields if f.get("name") == "embedding"), "")
        found = re.search(r"by model (\S+) \((\d+) dims\)", described or "")
        return (found.group(1), int(found.group(2))) if found else None

    # --- writes ------------------------------------------------------------------------------------
    def upsert(self, chunks: Sequence[Chunk]) -> int:
        if not chunks:
            return 0
        rows = [self._row(c) for c in chunks]
        with _unavailable_on_error("upsert"):
            if self.native_upsert:
                self.client.upsert(self.collection, data=rows)
            else:
                # Same ids, so a crash between the two calls is repaired by re-running the file.
                self.client.delete(self.collection, ids=[r["chunk_id"] for r in rows])
                self.client.insert(self.collection, data=rows)
        self._mark_written({(c.tenant, c.kb) for c in chunks}, stamped=True)
        return len(rows)

    def _row(self, c: Chunk) -> dict[str, Any]:
        if c.embedding is None:
            raise ValueError(f"chunk {c.chunk_id} has no embedding")
        if self.has_indexed_text():
            return {**self._plain_row(c), INDEXED_TEXT_FIELD: _truncate_utf8(indexed_text(c.text, c.metadata),
                                                                              TEXT_MAX_BYTES)}
        return self._plain_row(c)

    def _plain_row(self, c: Chunk) -> dict[str, Any]:
        return {
            "chunk_id": c.chunk_id, "embedding": list(c.embedding),
            "text": _truncate_utf8(c.text, TEXT_MAX_BYTES), "tenant": c.tenant, "kb": c.kb,
            **({SCOPE_FIELD: scope(c.tenant, c.kb)} if self.has_scope() else {}),
            "doc_id": c.doc_id, "source": _truncate_utf8(c.source, SOURCE_MAX_BYTES), "page": c.page,
            "chunk_index": c.chunk_index, "content_hash": c.content_hash, "created_at": c.created_at,
            "metadata": self._metadata(c),
        }

    def _metadata(self, c: Chunk) -> dict[str, Any]:
        if self.settings.paired_reads_all_chunks:
            return {**c.metadata, CJK_TEXT_KEY: has_cjk_half(c.text)}
        return c.metadata

    def delete_chunks_from(self, tenant: str, kb: str, doc_id: str, first_stale_index: int) -> None:
        """Remove chunks a shorter new version of a document no longer has. Call it before upserting
        the new version: the upsert's stamp then covers this delete for "LastWrite" searches."""
        self._delete(tenant, kb, filters.all_of(filters.equals("doc_id", doc_id),
                                                f"chunk_index >= {int(first_stale_index)}"), mark=False)

    def delete_document(self, tenant: str, kb: str, doc_id: str) -> None:
        self._delete(tenant, kb, filters.equals("doc_id", doc_id))

    def delete_written_by(self, tenant: str, kb: str, doc_ids: Sequence[str], job_id: str) -> None:
        """Undo a job's writes of these documents (only chunks that carry the job's id)."""
        docs = "doc_id in [" + ", ".join(filters.quote(d) for d in doc_ids) + "]"
        self._delete(tenant, kb, filters.all_of(docs, 'metadata["job_id"] == ' + filters.quote(job_id)))

    def delete_kb(self, tenant: str, kb: str) -> None:
        self._delete(tenant, kb)

    def _delete(self, tenant: str, kb: str, extra_filter: str = "", mark: bool = True) -> None:
        with _unavailable_on_error("delete"):
            self.client.delete(self.collection, filter=self.kb_filter(tenant, kb, extra_filter))
        if mark:
            self._mark_written({(tenant, kb)}, stamped=False)  # 2.3.5 answers deletes with stamp 0

    def _mark_written(self, kbs: set[tuple[str, str]], stamped: bool) -> None:
        """Record the kbs' write for "LastWrite" searches: the stamp of this client's newest mutation
        of the collection (pymilvus keeps it per server address), or a Strong window if unstamped."""
        if self.write_marks is None:
            return
        ts = 0
        if stamped:
            ts = ts_utils.get_collection_ts(self.collection, self.client._get_connection().server_address)
        self.write_marks.record(self.collection, kbs, ts)

    def consistency_for(self, tenant: str, kb: str) -> dict[str, Any]:
        """Search arguments for `settings.search_consistency`; "LastWrite" waits for the kb's last
        recorded write only (Strong where none is recorded)."""
        level = self.settings.search_consistency
        if level != "LastWrite":
            return {"consistency_level": level}
        ts = self.write_marks.guarantee_ts(self.collection, tenant, kb) if self.write_marks else None
        if ts is None:
            return {"consistency_level": "Strong"}
        return {"consistency_level": "Customized", "guarantee_timestamp": ts}

    def reading_ahead(self, tenant: str, kb: str) -> AbstractContextManager[None]:
        """On the event loop, around a worker thread that searches the kb: its write stamp is read
        meanwhile (`WriteMarks.reading_ahead`) rather than in the thread after the query is embedded."""
        marks = self.write_marks
        if self.settings.search_consistency != "LastWrite" or marks is None or marks.ar is None:
            return nullcontext()
        return marks.reading_ahead(self.collection, tenant, kb)

    def list_documents(self, tenant: str, kb: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """One row per document: its first chunk carries the document's fields and chunk count."""
        expr = self.kb_filter(tenant, kb, "chunk_index == 0")
        rows = self._read("query", lambda: self.client.query(
            self.collection, filter=expr, limit=limit, offset=offset,
            output_fields=["doc_id", "source", "content_hash", "created_at", "metadata"], consistency_level="Strong"))
        return sorted(({"doc_id": r["doc_id"], "source": r["source"], "content_hash": r["content_hash"],
                        "created_at": r["created_at"], "chunks": int((r.get("metadata") or {}).get("chunk_count", 0))}
                       for r in rows), key=lambda d: d["source"])

    # --- reads -------------------------------------------------------------------------------------
    def settle(self, wait_s: float = 600.0) -> bool:
        """Flush and wait until the HNSW index covers every row: searches then run as they will at rest.
        Right after writes, growing segments are searched apart from the index and a kb's dense results
        differ (on the dev QA set a kb holding 7% of its collection scored dense hit@5 0.816 exactly and
        0.694 through the filtered HNSW index). False if the index is still behind after `wait_s`."""
        self.client.flush(self.collection)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                info = self.client.describe_index(self.collection, INDEX_NAME)
            except MilvusException:
                return True  # no index to wait for (milvus-lite's full-text collections)
            if int(info.get("pending_index_rows", 0) or 0) == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(1.0)

    def count(self, tenant: str, kb: str | None = None, doc_id: str | None = None) -> int:
        doc = filters.equals("doc_id", doc_id) if doc_id is not None else ""
        if kb is not None:
            return self._count(self.kb_filter(tenant, kb, doc))
        return self._count(filters.all_of(filters.equals("tenant", tenant), doc))

    def _count(self, expr: str) -> int:
        rows = self._read("count", lambda: self.client.query(
            self.collection, filter=expr, output_fields=["count(*)"], consistency_level="Strong"))
        return int(rows[0]["count(*)"]) if rows else 0

    def stored_version(self, tenant: str, doc_id: str) -> StoredVersion | None:
        """What is stored of a document, or None if nothing is.

        A document counts as fully stored only when every expected chunk is present with one hash:
        a worker killed half way leaves a mismatch, so the file is ingested again. One row gives the
        hash, expected count and job; counts check them over every row (a query returns at most
        16,384 rows, and documents can have more chunks)."""
        doc = filters.all_of(filters.equals("tenant", tenant), filters.equals("doc_id", doc_id))
        rows = self._read("query", lambda: self.client.query(
            self.collection, filter=doc, output_fields=["content_hash", "metadata"], limit=1,
            consistency_level="Strong"))
        if not rows:
            return None
        digest, metadata = rows[0]["content_hash"], rows[0].get("metadata") or {}
        expected, job_id = int(metadata.get("chunk_count", -1)), str(metadata.get("job_id", ""))
        present = self._count(doc)
        alike = self._count(filters.all_of(doc, filters.equals("content_hash", digest),
                                           f'metadata["chunk_count"] == {expected}'))
        if alike != present:
            return StoredVersion("", -1, present, "")
        by_job = self._count(filters.all_of(doc, 'metadata["job_id"] == ' + filters.quote(job_id)))
        return StoredVersion(digest, expected, present, job_id if by_job == present else "")

    def kb_filter(self, tenant: str, kb: str, extra_filter: str = "") -> str:
        """One kb of one tenant, narrowed by `extra_filter` (every read and delete goes through it); the
        partition key's equality comes first, so Milvus reads the kb's partition only."""
        key = filters.equals(SCOPE_FIELD, scope(tenant, kb)) if self.has_scope() else ""
        return filters.all_of(key, filters.equals("tenant", tenant), filters.equals("kb", kb), extra_filter)

    def _read(self, action: str, call):
        """Run a read; if the server lost the collection's loaded state (a restart), load it and retry.
        Timed as the request's "milvus" phase (with the kb's write-stamp read, ragway/freshness.py)."""
        with timing.phase("milvus"), _unavailable_on_error(action):
            try:
                return call()
            except MilvusException as exc:
                if "not loaded" not in str(exc):
                    raise
                log.warning("collection %s not loaded; loading it again", self.collection)
                self.client.load_collection(self.collection)
                return call()

    def search(self, tenant: str, kb: str, vector: Sequence[float], top_k: int, extra_filter: str = "") -> list[Hit]:
        """Nearest chunks of one kb of one tenant; `extra_filter` (from filters.user_filter) can only narrow."""
        return [self._hit(h) for h in self._dense_search(tenant, kb, [vector], top_k, extra_filter, OUTPUT_FIELDS)[0]]

    def search_many(self, tenant: str, kb: str, vectors: Sequence[Sequence[float]], top_k: int,
                    extra_filter: str = "") -> list[list[Hit]]:
        """`search` for several query vectors in one request (one round trip, one consistency wait)."""
        found = self._dense_search(tenant, kb, vectors, top_k, extra_filter, OUTPUT_FIELDS)
        return [[self._hit(h) for h in hits] for hits in found]

    def _dense_search(self, tenant: str, kb: str, vectors: Sequence[Sequence[float]], top_k: int, extra_filter: str,
                      output_fields: Sequence[str]) -> list[list[dict[str, Any]]]:
        return self._read("search", lambda: self.client.search(
            self.collection, data=[list(v) for v in vectors], limit=top_k,
            filter=self.kb_filter(tenant, kb, extra_filter), output_fields=list(output_fields), anns_field="embedding",
            search_params={"metric_type": self.metric, "params": {"ef": max(self.settings.search_ef, top_k)}},
            **self.consistency_for(tenant, kb),
        ))

    @staticmethod
    def _hit(h: dict[str, Any]) -> Hit:
        e = h.get("entity", h)
        return Hit(chunk_id=e["chunk_id"], score=float(h["distance"]), text=e["text"], kb=e["kb"],
                   doc_id=e["doc_id"], source=e["source"], page=int(e["page"]),
                   chunk_index=int(e["chunk_index"]), metadata=e.get("metadata") or {})

    # --- reads for retrieval modes (ragway/retriever.py) ---------------------------------------------

    def search_with_vectors(self, tenant: str, kb: str, vector: Sequence[float], top_k: int,
                            extra_filter: str = "") -> list[tuple[Hit, list[float]]]:
        """`search`, with each hit's stored embedding (what MMR needs to measure redundancy)."""
        hits = self._dense_search(tenant, kb, [vector], top_k, extra_filter, [*OUTPUT_FIELDS, "embedding"])[0]
        return [(self._hit(h), [float(x) for x in h.get("entity", h)["embedding"]]) for h in hits]

    def fetch_hits(self, tenant: str, kb: str, chunk_ids: Sequence[str], with_vectors: bool = False,
                   extra_filter: str = "") -> dict[str, tuple[Hit, list[float] | None]]:
        """Chunks by id (score 0.0), optionally with embeddings; ids not in the kb are left out."""
        if not chunk_ids:
            return {}
        ids_expr = "chunk_id in [" + ", ".join(filters.quote(c) for c in chunk_ids) + "]"
        fields = [*OUTPUT_FIELDS, "embedding"] if with_vectors else OUTPUT_FIELDS
        rows = self._read("query", lambda: self.client.query(
            self.collection, filter=self.kb_filter(tenant, kb, filters.all_of(ids_expr, extra_filter)),
            output_fields=fields, **self.consistency_for(tenant, kb)))
        return {r["chunk_id"]: (self._hit({**r, "distance": 0.0}),
                                [float(x) for x in r["embedding"]] if with_vectors else None) for r in rows}

    def kb_fingerprint(self, tenant: str, kb: str) -> str:
        """Changes whenever the kb's chunks do: chunk count plus a hash of every document's
        (doc_id, content_hash, chunk_count) from its first chunk. One count and one scan of the
        kb's first chunks (~1 per document)."""
        import hashlib

        docs = sorted((r["doc_id"], r["content_hash"], int((r.get("metadata") or {}).get("chunk_count", 0)))
                      for r in self.iter_rows(tenant, kb, ["doc_id", "content_hash", "metadata"],
                                              extra_filter="chunk_index == 0"))
        digest = hashlib.sha256(repr(docs).encode("utf-8")).hexdigest()[:16]
        return f"{self.count(tenant, kb)}:{digest}"

    def iter_rows(self, tenant: str, kb: str, fields: Sequence[str], extra_filter: str = "",
                  batch_size: int = 2000) -> Iterator[dict[str, Any]]:
        """Every row of one kb of one tenant (query_iterator; Strong consistency), `fields` only."""
        expr = self.kb_filter(tenant, kb, extra_filter)
        with _unavailable_on_error("query"):
            it = self.client.query_iterator(self.collection, batch_size=batch_size, filter=expr,
                                            output_fields=list(fields), consistency_level="Strong")
            try:
                while batch := it.next():
                    yield from batch
            finally:
                it.close()

    def search_text(self, tenant: str, kb: str, query: str, top_k: int, extra_filter: str = "") -> list[Hit]:
        """Native BM25 (full-text collections on Milvus >= 2.5): score is the BM25 score."""
        result = self._read("search", lambda: self.client.search(
            self.collection, data=[query], limit=top_k, filter=self.kb_filter(tenant, kb, extra_filter),
            output_fields=OUTPUT_FIELDS, anns_field=SPARSE_FIELD, search_params={"metric_type": "BM25"},
            **self.consistency_for(tenant, kb),
        ))
        # milvus-lite reports BM25 as a negative distance (more negative = better); the server, positive.
        return [self._hit({**h, "distance": abs(float(h["distance"]))}) for h in result[0]]

    def hybrid_search_native(self, tenant: str, kb: str, query: str, vector: Sequence[float], top_k: int,
                             fetch_k: int, rrf_k: int = 60, extra_filter: str = "") -> list[Hit]:
        """Dense + BM25 fused by the server (`hybrid_search` with plain RRF)."""
        expr = self.kb_filter(tenant, kb, extra_filter)
        ef = max(self.settings.search_ef, fetch_k)
        dense = AnnSearchRequest(data=[list(vector)], anns_field="embedding", limit=fetch_k, expr=expr,
                                 param={"metric_type": self.metric, "params": {"ef": ef}})
        sparse = AnnSearchRequest(data=[query], anns_field=SPARSE_FIELD, limit=fetch_k, expr=expr,
                                  param={"metric_type": "BM25"})
        result = self._read("hybrid search", lambda: self.client.hybrid_search(
            self.collection, [dense, sparse], RRFRanker(rrf_k), limit=top_k, output_fields=OUTPUT_FIELDS,
            **self.consistency_for(tenant, kb)))
        return [self._hit(h) for h in result[0]]

    def ping(self) -> None:
        with _unavailable_on_error(f"at {self.settings.milvus_uri}"):
            self.client.list_collections()
