"""ChunkStore logic on milvus-lite (pure Python): quick, no server. The same behaviour is tested
against the real Milvus 2.3.5 server in tests/integration."""

import time

import pytest
from pymilvus import MilvusClient

from ragway import ids
from ragway.records import Chunk
from ragway.settings import Settings
from ragway.store import ChunkStore, _upsert_keeps_partition_key

DIM = 8


def unit(i: int) -> list[float]:
    v = [0.0] * DIM
    v[i % DIM] = 1.0
    return v


def make_chunks(tenant, kb, source, texts, digest="h1"):
    doc = ids.document_id(tenant, kb, source)
    return [Chunk(chunk_id=ids.chunk_id(tenant, kb, doc, i), tenant=tenant, kb=kb, doc_id=doc, source=source,
                  page=0, chunk_index=i, content_hash=digest, text=t, created_at=int(time.time() * 1000),
                  metadata={"chunk_count": len(texts)}, embedding=unit(i))
            for i, t in enumerate(texts)]


@pytest.fixture()
def store(tmp_path):
    settings = Settings(collection="unit_chunks", num_partitions=4)
    s = ChunkStore(settings, dim=DIM, client=MilvusClient(str(tmp_path / "lite.db")))
    s.ensure_collection()
    return s


def test_a_kb_is_its_own_partition_key_and_every_kb_read_names_it(store):
    store.upsert(make_chunks("t1", "kb", "a.txt", ["alpha", "beta"]))
    store.upsert(make_chunks("t1", "kb2", "a.txt", ["gamma"]))
    rows = store.client.query(store.collection, filter='scope == "t1/kb"', output_fields=["tenant", "kb"])
    assert sorted((r["tenant"], r["kb"]) for r in rows) == [("t1", "kb"), ("t1", "kb")]
    assert store.kb_filter("t1", "kb").startswith('(scope == "t1/kb") and (tenant == "t1") and (kb == "kb")')
    assert store.count("t1", "kb2") == 1 and store.count("t1") == 3


def test_upsert_search_and_tenant_filter(store):
    store.upsert(make_chunks("t1", "kb", "a.txt", ["alpha", "beta"]))
    store.upsert(make_chunks("t2", "kb", "a.txt", ["other tenant"]))
    hits = store.search("t1", "kb", unit(1), top_k=5)
    assert [h.text for h in hits][0] == "beta"
    assert {h.text for h in hits} == {"alpha", "beta"}
    assert store.count("t1", "kb") == 2 and store.count("t2", "kb") == 1


def test_rewrite_is_idempotent_and_stale_chunks_go(store):
    chunks = make_chunks("t1", "kb", "a.txt", ["one", "two", "three"])
    store.upsert(chunks)
    store.upsert(chunks)
    assert store.count("t1", "kb") == 3
    shorter = make_chunks("t1", "kb", "a.txt", ["uno"], digest="h2")
    store.upsert(shorter)
    store.delete_chunks_from("t1", shorter[0].kb, shorter[0].doc_id, 1)
    assert store.count("t1", "kb") == 1
    assert store.stored_version("t1", shorter[0].doc_id)[:3] == ("h2", 1, 1)


def test_half_written_document_is_not_complete(store):
    chunks = make_chunks("t1", "kb", "a.txt", ["one", "two", "three"])
    store.upsert(chunks[:2])  # a worker died after two of three chunks
    stored = store.stored_version("t1", chunks[0].doc_id)
    assert (stored.content_hash, stored.chunk_count, stored.present) == ("h1", 3, 2) and not stored.complete


def test_a_document_past_the_query_row_limit_counts_as_complete(store):
    # A Milvus query returns at most 16,384 rows; stored_version must count beyond that.
    chunks = make_chunks("t1", "kb", "big.txt", [f"chunk {i}" for i in range(16_500)])
    for start in range(0, len(chunks), 2_000):
        store.upsert(chunks[start:start + 2_000])
    stored = store.stored_version("t1", chunks[0].doc_id)
    assert stored[:3] == ("h1", 16_500, 16_500) and stored.complete
    store.delete_chunks_from("t1", "kb", chunks[0].doc_id, 16_499)  # the last chunk never got written
    stored = store.stored_version("t1", chunks[0].doc_id)
    assert stored[:3] == ("h1", 16_500, 16_499) and not stored.complete


def test_chunks_of_two_versions_or_two_jobs(store):
    old = make_chunks("t1", "kb", "a.txt", ["one", "two", "three"], digest="h1")
    new = make_chunks("t1", "kb", "a.txt", ["uno", "dos", "tres"], digest="h2")
    for c in old:
        c.metadata["job_id"] = "job-1"
    for c in new:
        c.metadata["job_id"] = "job-2"
    store.upsert(old)
    assert store.stored_version("t1", old[0].doc_id) == ("h1", 3, 3, "job-1")
    store.upsert(new[:1])  # the new version's worker died after its first chunk
    assert store.stored_version("t1", old[0].doc_id) == ("", -1, 3, "")
    for c in new:
        c.content_hash, c.metadata["job_id"] = "h1", "job-2"
    store.upsert(new[:1])  # same version written again by another job: complete, but no single writer
    assert store.stored_version("t1", old[0].doc_id) == ("h1", 3, 3, "")


def test_server_version_gate():
    assert not _upsert_keeps_partition_key("v2.3.5-lite")
    assert _upsert_keeps_partition_key("v2.4.0")
    assert _upsert_keeps_partition_key("v2.6.4")
    assert _upsert_keeps_partition_key("")



class LetterEmbedder:
    """A deterministic stand-in (DIM dims) for ingest bookkeeping tests; real models: tests/integration."""

    dim = DIM

    def embed(self, texts):
        return [unit(sum(map(ord, t))) for t in texts]


def test_a_file_found_complete_is_done_for_the_job_that_wrote_it_and_skipped_for_others(store):
    from ragway.ingest import Ingestor
    from ragway.splitter import Splitter

    ingestor = Ingestor(Splitter(Settings()), LetterEmbedder(), store)
    data = b"The warehouse shipped forty pallets in week two.\n\nThe depot closed early."
    written = ingestor.ingest("t1", "kb", "report.txt", data, job_id="job-1")
    assert not written.skipped and written.chunks > 0
    # The worker died after writing, before recording it: the same job's retry finds it complete.
    retried = ingestor.prepare("t1", "kb", "report.txt", data, job_id="job-1")
    assert (retried.skipped, retried.chunks) == (False, written.chunks)
    again = ingestor.prepare("t1", "kb", "report.txt", data, job_id="job-2")  # a later upload, unchanged
    assert (again.skipped, again.chunks) == (True, written.chunks)


def test_delete_written_by_removes_only_that_jobs_chunks(store):
    from ragway.ingest import Ingestor
    from ragway.splitter import Splitter

    ingestor = Ingestor(Splitter(Settings()), LetterEmbedder(), store)
    ours = ingestor.ingest("t1", "kb", "ours.txt", b"Written by the job whose kb was deleted.", job_id="job-1")
    theirs = ingestor.ingest("t1", "kb", "theirs.txt", "另一个作业写的文件。".encode(), job_id="job-2")
    same_doc_other_job = ingestor.ingest("t1", "kb2", "ours.txt", b"Same name, other kb.", job_id="job-3")

    store.delete_written_by("t1", "kb", [ours.doc_id, theirs.doc_id], "job-1")

    assert store.count("t1", "kb", doc_id=ours.doc_id) == 0
    assert store.count("t1", "kb", doc_id=theirs.doc_id) == theirs.chunks
    assert store.count("t1", "kb2", doc_id=same_doc_other_job.doc_id) == same_doc_other_job.chunks


def test_a_document_over_the_chunk_limit_fails_before_it_is_embedded(tmp_path):
    from ragway.errors import DocumentError
    from ragway.ingest import Ingestor
    from ragway.splitter import Splitter

    class CountingEmbedder(LetterEmbedder):
        texts = 0

        def embed(self, texts):
            CountingEmbedder.texts += len(texts)
            return super().embed(texts)

    def paragraphs(n: int) -> bytes:  # one chunk each (~450 characters)
        return "\n\n".join(f"The depot counted {i} pallets of copper wire before noon. " * 8
                           for i in range(n)).encode()

    settings = Settings(collection="unit_chunks", num_partitions=4, max_document_chunks=3)
    store = ChunkStore(settings, dim=DIM, client=MilvusClient(str(tmp_path / "lite.db")))
    store.ensure_collection()
    ingestor = Ingestor(Splitter(settings), CountingEmbedder(), store)
    assert ingestor.ingest("t1", "kb", "three.txt", paragraphs(3)).chunks == 3  # at the limit
    embedded = CountingEmbedder.texts
    with pytest.raises(DocumentError) as refused:
        ingestor.prepare("t1", "kb", "four.txt", paragraphs(4))
    assert refused.value.message.startswith(
        "four.txt: 4 chunks; the limit is 3 per document (RAGWAY_MAX_DOCUMENT_CHUNKS)")
    assert CountingEmbedder.texts == embedded
    assert store.count("t1", "kb", ids.document_id("t1", "kb", "four.txt")) == 0



def test_schema_reads_in_order_with_versions_and_formats(store):
    from ragway.store import SCHEMA_TAG
    info = store.client.describe_collection(store.collection)
    names = [f["name"] for f in info["fields"]]
    assert names[:13] == ["chunk_id", "tenant", "kb", "scope", "doc_id", "source", "page", "chunk_index",
                          "content_hash", "created_at", "metadata", "text", "embedding"]
    # milvus-lite drops descriptions: check what is sent (tests/integration checks what 2.3.5 keeps)
    schema = store._schema()
    described = {f.name: f.description for f in schema.fields}
    assert "32 hex" in described["chunk_id"] and "32 hex" in described["doc_id"]
    assert len(ids.document_id("t", "kb", "a.txt")) == 32 == len(ids.chunk_id("t", "kb", "d", 0))
    assert "epoch milliseconds, UTC" in described["created_at"]
    assert f"by model {store.settings.embedding_model_id} ({DIM} dims)" in described["embedding"]
    assert schema.description.startswith(SCHEMA_TAG) and SCHEMA_TAG in described["chunk_id"]


class _Described:
    """A client whose describe_collection answers what a server kept (milvus-lite keeps no descriptions)."""

    def __init__(self, description, chunk_id_description):
        self.info = {"description": description,
                     "fields": [{"name": "chunk_id", "description": chunk_id_description}]}

    def describe_collection(self, name):
        return self.info


def test_schema_version_is_read_and_a_newer_one_refused(store):
    from ragway.errors import ConfigurationError
    from ragway.store import SCHEMA_VERSION
    store.client = _Described("Ragway document chunks", "Chunk id: sha256 of (tenant, kb, doc_id, chunk_index)")
    assert store.schema_version() == 1
    store._check_schema_version()  # an older layout only warns: same names and types, it still works
    store.client = _Described("", f"Chunk id ... [ragway schema v{SCHEMA_VERSION}]")
    assert store.schema_version() == SCHEMA_VERSION
    store.client = _Described("[ragway schema v99] Ragway document chunks", "")
    with pytest.raises(ConfigurationError, match="schema v99"):
        store._check_schema_version()
