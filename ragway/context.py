"""The passages an answer is generated from, fitted to a token budget.

On CPU the prompt's prefill is most of an answer's latency (~50 tokens/s for the 1.5B model on two
cores), so the retrieved chunks are not pasted whole: their sentences are ranked by how many of the
question's terms they hold (idf-weighted over the passages, BM25's tokenizer: stems, jieba for
Chinese) and the best are kept, in their original order, until the budget is spent. A chunk's short
first line (its heading) stays with it. Chunks left without a sentence are dropped, so the numbers the
model cites are those of the passages it saw. A chunk in CJK script retrieved for a question that is not
(found by meaning across languages) shares no terms with it: its sentences rank by the chunk's place
instead, the top chunk's level with the best-matching sentence."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ragway.lexical import CJK_CHAR, Tokenizer, has_cjk_half
from ragway.records import Hit

# Sentence ends: English and Chinese punctuation (the latter needs no space after it), or a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？；])|\n+")
GAP = " … "
HEADING_TOKENS = 24


def estimate_tokens(text: str) -> int:
    """Qwen2.5's tokenizer: ~1.25 Chinese characters or ~4.7 other characters per token (measured with
    the served model's own tokenizer on CMRC/XQuAD-zh and SQuAD passages)."""
    han = len(CJK_CHAR.findall(text))
    return math.ceil(han / 1.25 + (len(text) - han) / 4.7)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk and the part of it the prompt shows."""

    hit: Hit
    text: str


@dataclass(frozen=True)
class _Sentence:
    passage: int
    position: int
    text: str
    score: float


def fit(question: str, hits: list[Hit], budget_tokens: int, tokenizer: Tokenizer, *,
        question_in_cjk: bool) -> list[Passage]:
    """The hits' best sentences for the question within `budget_tokens`, as numbered passages
    (`question_in_cjk`: `Settings.is_cjk_query`). A chunk in the other script than the question shares
    only names and numbers with it: its sentences rank by the chunk's place."""
    if not hits:
        return []
    if sum(estimate_tokens(h.text) for h in hits) <= budget_tokens:
        return [Passage(h, h.text) for h in hits]
    query = set(tokenizer(question))
    split = [sentences(h.text) for h in hits]
    documents = [set(tokenizer(s)) for parts in split for s in parts]
    idf = {t: math.log(1 + len(documents) / (1 + sum(t in d for d in documents))) for t in query}
    ranked: list[_Sentence] = []
    terms = iter(documents)
    unread = {p for p, h in enumerate(hits) if has_cjk_half(h.text) != question_in_cjk}  # the other script
    best = max((sum(idf[t] for t in query & d) for d in documents), default=0.0) or 1.0
    for p, parts in enumerate(split):
        for i, text in enumerate(parts):
            score = sum(idf[t] for t in query & next(terms))
            if p in unread:  # by the chunk's rank: in order, level with the best sentence for the top chunk
                score = best * (1 - p / len(hits))
            # A chunk's heading (its first line) comes along with any sentence of it, for free.
            ranked.append(_Sentence(p, i, text, score - p * 1e-6))  # ties: the better-ranked chunk
    ranked.sort(key=lambda s: -s.score)
    chosen: dict[int, set[int]] = {}
    spent = 0
    for sentence in ranked:
        cost = estimate_tokens(sentence.text)
        if chosen and (sentence.score <= 0 or spent + cost > budget_tokens):
            continue
        chosen.setdefault(sentence.passage, set()).add(sentence.position)
        spent += cost
    for p, positions in chosen.items():  # a short first line is the chunk's heading: keep it
        if 0 not in positions and estimate_tokens(split[p][0]) <= HEADING_TOKENS:
            positions.add(0)
    return [Passage(hits[p], _join(split[p], sorted(chosen[p]))) for p in sorted(chosen)]


def _join(parts: list[str], positions: list[int]) -> str:
    out, last = [], -1
    for i in positions:
        if out and i != last + 1:
            out.append(GAP.strip())
        out.append(parts[i])
        last = i
    text = " ".join(out)
    return text if positions[-1] == len(parts) - 1 else text + GAP.rstrip()
