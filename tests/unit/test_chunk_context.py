"""Chunks know where they are (issue 15, item 2): the text indexed for BM25 (and, with
`embed_chunk_context`, the text embedded) starts with the chunk's context, its document's title or file
name and its section heading, while the text stored and shown stays the chunk's own. On milvus-lite, with
both BM25 backends (native full-text field, and the in-process index the local Milvus 2.3.5 uses; the real
server is tested in tests/integration/test_retrieval_defaults.py)."""

import numpy as np
import pytest
from pymilvus import MilvusClient

from ragway import loader
from ragway.ingest import Ingestor
from ragway.records import chunk_context, document_label, document_name, indexed_text
from ragway.retriever import Retriever
from ragway.settings import Settings
from ragway.splitter import Splitter
from ragway.store import INDEXED_TEXT_FIELD, ChunkStore
from tests import documents as docs

DIM = 16
REPORT = "reports/zephyr-orchard_quarterly.txt"
REPORT_TEXT = b"We shipped 1,200 crates of pears in the second quarter.\n\nMargins rose by four points."
OTHER = "notes.txt"
OTHER_TEXT = b"The warehouse shipped crates of apples and pears every week."


class RecordingEmbedder:
    """Deterministic vectors from letter counts; remembers every text it was asked to embed."""

    dim = DIM

    def __init__(self):
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen.extend(texts)
        out = []
        for t in texts:
            v = np.zeros(DIM, dtype=np.float32)
            for ch in t.lower():
                v[ord(ch) % DIM] += 1.0
            out.append((v / max(np.linalg.norm(v), 1e-9)).tolist())
        return out

    def embed_query(self, text):
        return self.embed([text])[0]


def test_document_label_and_context():
    assert document_label(REPORT) == "zephyr orchard quarterly"
    assert document_label("archive.tar.gz/README") == "README" and document_label("a/.env") == ".env"
    assert document_label(REPORT, title="Zephyr Orchard — Q2 report") == "Zephyr Orchard — Q2 report"
    assert chunk_context(REPORT, None, "Sales", "We shipped ...") == "zephyr orchard quarterly › Sales"
    # What the chunk starts with already (the splitter's repeated heading, a BEIR title) is not repeated.
    assert chunk_context(REPORT, None, "Sales", "Sales\nWe shipped ...") == "zephyr orchard quarterly"
    assert chunk_context("4983", "Microglia in autism", "Microglia in autism", "Microglia in autism\n...") == ""
    assert indexed_text("body", {"context": "doc › section"}) == "doc › section\nbody"
    assert indexed_text("body", {}) == indexed_text("body", None) == "body"


@pytest.fixture(
    params=[("milvus", False), ("memory", False), ("milvus", True), ("memory", True)],
    ids=lambda p: f"{p[0]}-{'embedded' if p[1] else 'indexed'}",
)
def kb(request, tmp_path):
    backend, embedded = request.param
    settings = Settings(
        collection="unit_context",
        num_partitions=4,
        lexical_backend=backend,
        bm25_check_interval_s=0.0,
        embed_chunk_context=embedded,
    )
    store = ChunkStore(settings, dim=DIM, client=MilvusClient(str(tmp_path / "lite.db")))
    store.ensure_collection()
    embedder = RecordingEmbedder()
    ingestor = Ingestor(Splitter(settings), embedder, store)
    ingestor.ingest("t1", "kb", REPORT, REPORT_TEXT)
    ingestor.ingest("t1", "kb", OTHER, OTHER_TEXT)
    retriever = Retriever(settings, embedder, store)
    assert retriever.lexical_backend == backend
    return store, embedder, retriever, embedded


def test_the_context_is_embedded_and_indexed_but_not_shown(kb):
    store, embedder, retriever, embedded = kb
    if embedded:
        assert "zephyr orchard quarterly\n" + REPORT_TEXT.decode() in embedder.seen
        assert any(t.startswith("notes\nThe warehouse shipped") for t in embedder.seen)
    else:  # the default: embedded as shown
        assert REPORT_TEXT.decode() in embedder.seen and not any("zephyr" in t for t in embedder.seen)
    rows = list(store.iter_rows("t1", "kb", ["source", "text", "metadata"]))
    report = [r for r in rows if r["source"] == REPORT]
    assert report and all(r["metadata"]["context"] == "zephyr orchard quarterly" for r in report)
    assert all("zephyr" not in r["text"].lower() for r in rows)  # stored and shown text: the chunk's own
    # Only the context holds "zephyr orchard": BM25 finds the report by it, and shows its clean text.
    hits = retriever.retrieve("t1", "kb", "zephyr orchard pears", 2, mode="bm25")
    assert hits[0].source == REPORT and hits[0].text.startswith("We shipped 1,200 crates")
    assert "zephyr" not in hits[0].text.lower()
    assert retriever.retrieve("t1", "kb", "zephyr", 5, mode="bm25")[0].source == REPORT
    hybrid = retriever.retrieve("t1", "kb", "zephyr orchard", 1, mode="hybrid")
    assert hybrid[0].source == REPORT and "zephyr" not in hybrid[0].text.lower()
    if store.has_full_text():  # native BM25 reads its own field: context, then text
        assert store.has_indexed_text()
        row = store.client.query(
            store.collection, filter=f'source == "{REPORT}"', output_fields=[INDEXED_TEXT_FIELD], limit=1
        )[0]
        assert row[INDEXED_TEXT_FIELD].startswith("zephyr orchard quarterly\nWe shipped")


@pytest.mark.parametrize(("name", "data", "title"), [
    ("norwich-city.txt", b"Iwan Roberts\nPersonal information\n\nSenior career\nNorwich City 278 (84)\n",
     "Iwan Roberts"),
    ("notes.md", "# 大模型推理优化策略\n\n量化可以减少显存。\n".encode(), "大模型推理优化策略"),
    ("page.html", b"<html><head><title>How to Get\n New Ideas</title></head><body><p>Notice.</p></body></html>",
     "How to Get New Ideas"),
    ("filing.html", b"<html><head><title>glxz-10k_20211231.htm</title></head><body><p>We sell.</p></body></html>",
     None),
    ("story.txt", b"We shipped 1,200 crates of pears in the second quarter, more than ever before.\n", None),
    ("prices.md", b"| Item | Price |\n|---|---|\n| Tea | 2 EUR |\n", None),
    ("report.pdf", docs.pdf_bytes("Quarterly report", docs.PDF_FACT), None),
])
def test_document_title_is_what_the_document_calls_itself(name, data, title):
    assert loader.document_title(name, data, loader.load(name, data)) == title


def test_a_titled_document_is_named_by_title_and_file_name(tmp_path):
    assert document_name("people/norwich-city.txt", "Iwan Roberts") == "Iwan Roberts (norwich city)"
    assert document_name("ideas-page.html", "How to Get New Ideas") == "How to Get New Ideas (ideas page)"
    assert document_name("ideas.html", "How to Get New Ideas") == "How to Get New Ideas"
    assert document_name("大模型推理优化策略.md", "大模型推理优化策略") == "大模型推理优化策略"
    assert document_name("notes.txt", None) is None
    settings = Settings(collection="unit_title")
    store = ChunkStore(settings, dim=DIM, client=MilvusClient(str(tmp_path / "lite.db")))
    store.ensure_collection()
    data = (b"Iwan Roberts\n\nSenior career\n\nYears Team Apps (Gls)\n\n1997-2004 Norwich City 278 (84)\n\n"
            b"2004-2005 Gillingham 20 (3)\n")
    prepared = Ingestor(Splitter(settings), RecordingEmbedder(), store).prepare("t1", "kb", "norwich-city.txt", data)
    assert prepared.title == "Iwan Roberts (norwich city)"
    [row_context] = [c for c, p in zip(prepared.contexts, prepared.pieces, strict=True) if "278 (84)" in p.text]
    assert row_context.startswith("Iwan Roberts (norwich city)")
