"""The ONNX int8 backend is exported offline from the local weights and agrees with PyTorch."""

from __future__ import annotations

import numpy as np

from ragway.embedder import Embedder, ensure_embedding_model, onnx_file_name
from ragway.settings import Settings

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

    a = np.array(Embedder(Settings(embedding_backend="torch")).embed(TEXTS))
    b = np.array(Embedder(onnx).embed(TEXTS))
    assert a.shape == b.shape == (4, 384)
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-3)
    assert (a * b).sum(axis=1).min() > 0.97  # same direction, per text
    query = Embedder(onnx).embed_query("When are travel expenses due?")
    assert int(np.argmax(b @ np.array(query))) == 0
