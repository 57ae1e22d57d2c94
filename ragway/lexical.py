"""BM25 for English and Chinese: the tokenizer and the in-process index used where Milvus has no
full-text search (servers before 2.5, e.g. the local 2.3.5).

Tokenizer: text is cut into runs of CJK ideographs and runs of other letters/digits. CJK runs are
segmented with jieba (its dictionary ships in the package: no download) and, with `cjk_chars`, also
cut into single characters kept as terms of their own ("#闲"), so a question and a passage that jieba
segments differently (闲着 / 空闲) still share terms; other runs are lowercased,
English stopwords dropped and words stemmed with the Snowball English stemmer (PyStemmer).
Measured with BM25 alone on SciFact's train queries (stemming + stopwords beat plain tokens) and on
XQuAD-zh / CMRC (jieba precise mode vs search mode): see `ragway eval` numbers in the README.

Memory of the in-process index (`Bm25Index`): a bm25s sparse matrix of ~8 bytes per distinct
(chunk, term) pair (~50-80 per 500-character chunk) plus the chunk ids and vocabulary: measured
47 MB for 100,106 Wikipedia chunks, but the gateway's RSS grew by ~270 MB per 100k chunks at the
first search of the kb (the texts and token lists of the build stay with the allocator), and ~110 MB
more during a rebuild (old and new index side by side). Built in ~20-30 s per 100k chunks on 2 busy
cores (reading the texts from Milvus and tokenizing) on first use of a kb (that search waits) and,
in the background, after it changes (`bench/load.py --scale`). Beyond a few hundred thousand chunks
per kb, or with many gateway replicas, move to Milvus >= 2.5, whose native BM25 (sparse vectors
computed by the server) needs no copy of the texts in the gateway: Ragway uses it automatically there.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs (extension A, unified, compatibility)
_CJK = _HAN + "\u3040-\u30ff"  # ... and kana
HAN_CHAR = re.compile(rf"[{_HAN}]")  # one Chinese character
_TOKEN_RUNS = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
CJK_CHAR = re.compile(rf"[{_CJK}]")  # one CJK ideograph or kana
CJK_TEXT_CHAR = re.compile(rf"[{_CJK}\u3000-\u303f\uff00-\uffef]")  # ... or CJK/full-width punctuation
_NON_CJK_WORD = re.compile(rf"[^\W_{_CJK}]+", re.UNICODE)
CJK_CHAR_TERM = "#"  # marks a single-character term: apart from jieba's one-character words
# Chinese function words that carry no topic (IDF would discount them too, but they crowd queries).
ZH_STOPWORDS = frozenset(
    ["的", "了", "是", "在", "和", "与", "及", "或", "也", "都", "而", "就", "被", "把", "对", "为", "以", "于",
     "之", "其", "这", "那", "有", "个", "中", "上", "下", "吗", "呢", "吧", "啊", "什么", "哪", "哪个", "哪些",
     "多少", "几", "谁", "怎么", "如何", "为什么", "何时", "何", "时候"])
_ZH_STOP_CHARS = frozenset(c for word in ZH_STOPWORDS for c in word)  # "为什么" is no character term either


@lru_cache(maxsize=1)
def cjk_share(text: str) -> float:
    """Share of CJK ideographs and kana among the text's CJK characters and other words (0 for neither).
    A word of another script counts once, as a CJK character roughly is one word: "langchain-ChatGLM 第5号
    issue 报告了什么问题" (9 characters, 4 words) is CJK at 0.69, where counting letters said 0.29."""
    cjk = len(CJK_CHAR.findall(text))
    units = cjk + len(_NON_CJK_WORD.findall(text))
    return cjk / units if units else 0.0


# A chunk whose CJK characters are at least this share of its CJK characters and other words counts as
# CJK text, and the paired embedder gives it the multilingual vector: Chinese prose with English terms
# ("Tokenize / Detokenize 过程在 CPU 上执行" is 0.78) does, an English page quoting a Chinese name does not.
CJK_CHUNK_SHARE = 0.1


def has_cjk_half(text: str) -> bool:
    """Whether a chunk's text counts as CJK text (embedder.PairedEmbedder gives it the CJK model's vector)."""
    return cjk_share(text) >= CJK_CHUNK_SHARE


def _english_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()  # ~1.5 s once per process (builds its prefix dict from the bundled dict.txt)
    return jieba


class Tokenizer:
    """Text -> BM25 terms, for documents and queries alike (same function on both sides)."""

    def __init__(self, stem: bool = True, stopwords: bool = True, cjk_mode: str = "search", cjk_chars: bool = False):
        if cjk_mode not in ("search", "precise"):
            raise ValueError("cjk_mode is 'search' (jieba.cut_for_search) or 'precise' (jieba.cut)")
        self.stem, self.stopwords, self.cjk_mode, self.cjk_chars = stem, stopwords, cjk_mode, cjk_chars

    def __call__(self, text: str) -> list[str]:
        terms: list[str] = []
        latin: list[int] = []  # positions in terms of the words to stem
        for run in _TOKEN_RUNS.findall(text):
            if CJK_CHAR.match(run):
                jieba = _jieba()
                words = jieba.cut_for_search(run) if self.cjk_mode == "search" else jieba.cut(run)
                terms.extend(w for w in words if w.strip() and not (self.stopwords and w in ZH_STOPWORDS))
                if self.cjk_chars:
                    terms.extend(CJK_CHAR_TERM + c for c in run if not (self.stopwords and c in _ZH_STOP_CHARS))
            else:
                word = run.lower()
                if not (self.stopwords and word in _english_stopwords()):
                    latin.append(len(terms))
                    terms.append(word)
        if self.stem and latin:
            for i, stem in zip(latin, _stemmer().stemWords([terms[i] for i in latin]), strict=True):
                terms[i] = stem
        return terms

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(t) for t in texts]


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: str
    score: float


class Bm25Index:
    """An in-memory BM25 (Lucene variant, bm25s) over chunk ids and their texts."""

    def __init__(self, chunk_ids: Sequence[str], texts: Sequence[str], tokenizer: Tokenizer,
                 k1: float = 1.2, b: float = 0.75, fingerprint: str = ""):
        import bm25s

        self.chunk_ids = list(chunk_ids)
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        if self.chunk_ids:
            self._bm25.index(tokenizer.many(texts), show_progress=False)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def search(self, query: str, top_k: int) -> list[LexicalHit]:
        """Best `top_k` chunks with a positive BM25 score (no shared term: not returned)."""
        terms = self.tokenizer(query)
        if not self.chunk_ids or not terms or top_k <= 0:
            return []
        vocab = self._bm25.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known:
            return []
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [LexicalHit(self.chunk_ids[i], float(scores[i])) for i in best if scores[i] > 0]


class Bm25Cache:
    """One index per (collection, tenant, kb), rebuilt when the kb's fingerprint changes, without
    making any search wait for a rebuild.

    The first build of a kb (cold) happens in the caller: there is nothing to search before it (one
    build per kb; other first callers wait for that one). Afterwards a search that brings a new
    fingerprint gets the index it has (the last one built) at once, and starts a background rebuild
    unless one of this kb runs already; the new index replaces the old one when it is complete, so
    for the few seconds of a rebuild BM25 misses the newest chunks (dense finds them) and deleted
    chunks are dropped when hits are read from the store. Background rebuilds run one at a time per
    process (they are CPU-bound: tokenizing), so memory peaks at one old + one new index. Beyond
    `max_kbs` indexes the least recently searched kb's is dropped."""

    def __init__(self, max_kbs: int = 8):
        self.max_kbs = max_kbs
        self._indexes: dict[tuple[str, str, str], Bm25Index] = {}
        self._lock = threading.Lock()
        self._cold: dict[tuple[str, str, str], threading.Lock] = {}
        self._rebuilds: dict[tuple[str, str, str], threading.Thread] = {}
        self._one_rebuild = threading.Semaphore(1)
        self.build_seconds: dict[tuple[str, str, str], float] = {}  # of each kb's last build

    def get(self, key: tuple[str, str, str], fingerprint: str, build) -> Bm25Index:
        with self._lock:
            index = self._indexes.pop(key, None)
            if index is not None:
                self._indexes[key] = index  # now the most recently used: evicted last
                if index.fingerprint != fingerprint and key not in self._rebuilds:
                    thread = threading.Thread(target=self._rebuild, args=(key, build), daemon=True,
                                              name=f"bm25-rebuild-{key[1]}/{key[2]}")
                    self._rebuilds[key] = thread
                    thread.start()
                return index
            cold = self._cold.setdefault(key, threading.Lock())
        with cold:  # the first build of a kb: one at a time, the other first callers wait for it
            index = self._indexes.get(key)
            if index is not None:
                return index
            index = self._timed_build(key, build)
            self._put(key, index)
            return index

    def wait(self, key: tuple[str, str, str], timeout: float | None = None) -> bool:
        """Wait for the kb's background rebuild, if one runs; False if it is still running."""
        with self._lock:
            thread = self._rebuilds.get(key)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def rebuilding(self, key: tuple[str, str, str]) -> bool:
        with self._lock:
            return key in self._rebuilds

    def _rebuild(self, key: tuple[str, str, str], build) -> None:
        try:
            with self._one_rebuild:
                index = self._timed_build(key, build)
            self._put(key, index)
        except Exception:  # the old index keeps serving; the next search with a new fingerprint retries
            log.exception("BM25 rebuild of %s failed; searches keep the previous index", key)
        finally:
            with self._lock:
                self._rebuilds.pop(key, None)

    def _timed_build(self, key: tuple[str, str, str], build) -> Bm25Index:
        started = time.perf_counter()
        index = build()
        self.build_seconds[key] = time.perf_counter() - started
        return index

    def _put(self, key: tuple[str, str, str], index: Bm25Index) -> None:
        with self._lock:
            self._indexes.pop(key, None)
            while len(self._indexes) >= self.max_kbs:
                self._indexes.pop(next(iter(self._indexes)))  # the least recently used
            self._indexes[key] = index
