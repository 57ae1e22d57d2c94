"""Retrieval and answering: store -> generator. The gateway's only way to read chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ragway import filters
from ragway.embedder import Embedder
from ragway.generator import NOT_FOUND_ANSWER, ChatTurn, Generator, Reply
from ragway.records import Hit
from ragway.retriever import Retriever
from ragway.settings import Settings
from ragway.store import ChunkStore

RetrievalMode = Literal["dense", "mmr", "bm25", "hybrid"]


def cosine_of(hit: Hit) -> float:
    """The hit's query-chunk cosine whatever the mode (BM25-only hits have none: they count as 0), so
    one threshold decides "relevant enough" for every mode."""
    retrieval = hit.metadata.get("retrieval") or {}
    if "dense" in retrieval:
        return float(retrieval["dense"]) if retrieval["dense"] is not None else 0.0
    return hit.score


@dataclass(frozen=True)
class RetrievalOptions:
    top_k: int = 5
    mode: RetrievalMode = "dense"
    score_threshold: float | None = None  # drop hits whose query-chunk cosine is below this
    filter: dict[str, Any] | None = field(default=None, hash=False)  # see filters.user_filter


@dataclass(frozen=True)
class Answer:
    answer: str
    sources: list[Hit]
    question: str = ""  # the question retrieval used (a follow-up condensed with the chat history)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @classmethod
    def of(cls, reply: Reply, sources: list[Hit], question: str) -> Answer:
        return cls(reply.text, sources, question, reply.prompt_tokens, reply.completion_tokens)


@dataclass(frozen=True)
class Context:
    """What to answer from: the standalone question and the relevant chunks (empty: not found)."""

    question: str
    hits: list[Hit]


class RagService:
    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore, generator: Generator):
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.generator = generator
        self.retriever = Retriever(settings, embedder, store)

    def search(self, tenant: str, kb: str, query: str, options: RetrievalOptions) -> list[Hit]:
        filters.validate_name("knowledge base", kb)
        expr = filters.user_filter(options.filter)
        hits = self.retriever.retrieve(tenant, kb, query, options.top_k, mode=options.mode, extra_filter=expr)
        if options.score_threshold is not None:
            hits = [h for h in hits if cosine_of(h) >= options.score_threshold]
        return hits

    def _answer_context(self, tenant: str, kb: str, question: str, options: RetrievalOptions) -> list[Hit]:
        threshold = self.settings.answer_min_score if options.score_threshold is None else options.score_threshold
        hits = self.search(tenant, kb, question, options)
        return [h for h in hits if cosine_of(h) >= threshold][: self.settings.context_chunks]

    def ask(self, tenant: str, kb: str, question: str, options: RetrievalOptions) -> Answer:
        context = self._answer_context(tenant, kb, question, options)
        if not context:
            return Answer(answer=NOT_FOUND_ANSWER, sources=[], question=question)
        return Answer.of(self.generator.answer(question, context), context, question)

    def chat_context(self, tenant: str, kb: str, history: list[ChatTurn], question: str,
                     options: RetrievalOptions) -> Context:
        """History-aware retrieval: a follow-up is first condensed into a standalone question."""
        recent = history[-self.settings.chat_history_messages:] if self.settings.chat_history_messages else []
        standalone = self.generator.condense(recent, question) if recent else question
        return Context(question=standalone, hits=self._answer_context(tenant, kb, standalone, options))

    def chat(self, context: Context) -> Answer:
        if not context.hits:
            return Answer(answer=NOT_FOUND_ANSWER, sources=[], question=context.question)
        return Answer.of(self.generator.answer(context.question, context.hits), context.hits, context.question)

    async def chat_stream(self, context: Context) -> AsyncIterator[str]:
        if not context.hits:
            yield NOT_FOUND_ANSWER
            return
        async for piece in self.generator.stream_answer(context.question, context.hits):
            yield piece
