"""Retrieval and answering: store -> generator. The gateway's only way to read chunks."""

from __future__ import annotations

from dataclasses import dataclass

from ragway import filters
from ragway.embedder import Embedder
from ragway.generator import NOT_FOUND_ANSWER, Generator
from ragway.records import Hit
from ragway.settings import Settings
from ragway.store import ChunkStore


@dataclass(frozen=True)
class Answer:
    answer: str
    sources: list[Hit]


class RagService:
    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore, generator: Generator):
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.generator = generator

    def search(self, tenant: str, kb: str, query: str, top_k: int) -> list[Hit]:
        filters.validate_name("knowledge base", kb)
        return self.store.search(tenant, kb, self.embedder.embed_query(query), top_k)

    def ask(self, tenant: str, kb: str, question: str, top_k: int | None = None) -> Answer:
        hits = self.search(tenant, kb, question, top_k or self.settings.top_k)
        relevant = [h for h in hits if h.score >= self.settings.answer_min_score]
        if not relevant:
            return Answer(answer=NOT_FOUND_ANSWER, sources=[])
        context = relevant[: self.settings.context_chunks]
        return Answer(answer=self.generator.answer(question, context), sources=context)
