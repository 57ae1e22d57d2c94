"""Retrieval and answering: store -> generator. The gateway's only way to read chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ragway import filters, grounding
from ragway.chunk_index import ChunkIndex
from ragway.context import Passage, fit
from ragway.embedder import Embedder
from ragway.generator import ChatTurn, Generator, Reply
from ragway.kbs import KnowledgeBases
from ragway.records import Hit
from ragway.retriever import Retriever
from ragway.settings import BUNDLED_EMBEDDING_MODEL, RetrievalMode, Settings


def cosine_of(hit: Hit) -> float:
    """The hit's query-chunk cosine whatever the mode (BM25-only hits have none: they count as 0), so
    one threshold decides "relevant enough" for every mode."""
    retrieval = hit.metadata.get("retrieval") or {}
    if "dense" in retrieval:
        return float(retrieval["dense"]) if retrieval["dense"] is not None else 0.0
    return hit.score


@dataclass(frozen=True)
class RetrievalOptions:
    top_k: int | None = None  # None: settings.top_k
    mode: RetrievalMode | None = None  # None: settings.retrieval_mode
    score_threshold: float | None = None  # drop hits whose query-chunk cosine is below this
    filter: dict[str, Any] | None = field(default=None, hash=False)  # see filters.user_filter


@dataclass(frozen=True)
class Answer:
    """An answer over numbered sources: `sources[n-1]` is passage [n]; `citations` are the numbers the
    answer cites; `grounded` is False when a number, name or quote in it is not in what it cites."""

    answer: str
    sources: list[Hit]
    question: str = ""  # the question retrieval used (a follow-up condensed with the chat history)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    citations: list[int] = field(default_factory=list)
    declined: bool = False
    grounded: bool = True
    unsupported: list[str] = field(default_factory=list)
    language: str = "en"

    @classmethod
    def of(cls, reply: Reply, sources: list[Hit], question: str, language: str, withdraw: bool = True) -> Answer:
        checked = grounding.check(reply.text, sources, language, withdraw, question=question)
        return cls.checked(checked, sources, question, reply.prompt_tokens, reply.completion_tokens)

    @classmethod
    def checked(cls, checked: grounding.Checked, sources: list[Hit], question: str, prompt_tokens: int = 0,
                completion_tokens: int = 0) -> Answer:
        return cls(checked.text, sources, question, prompt_tokens, completion_tokens, checked.citations,
                   checked.declined, checked.grounded, checked.unsupported, checked.language)

    @classmethod
    def not_found(cls, question: str, language: str, sources: list[Hit] | None = None) -> Answer:
        return cls(grounding.NOT_FOUND[language], sources or [], question, declined=True, language=language)


@dataclass(frozen=True)
class Context:
    """What to answer from: the standalone question and the relevant chunks (empty: not found)."""

    question: str
    hits: list[Hit]
    language: str = ""  # of the user's own question (a condensed follow-up may have drifted); "" = the question's

    @property
    def answer_language(self) -> str:
        return self.language or grounding.language_of(self.question)


class RagService:
    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkIndex, generator: Generator,
                 kbs: KnowledgeBases | None = None):
        """With `kbs`, asking a kb that does not exist is NotFound (searches find that out only when they
        come back empty: `kb_deletion.hits_prove_kb_exists`)."""
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.generator = generator
        self.kbs = kbs
        self.retriever = Retriever(settings, embedder, store)

    def _require_kb(self, tenant: str, kb: str) -> None:
        if self.kbs is not None:
            self.kbs.get(tenant, kb)

    def search(self, tenant: str, kb: str, query: str, options: RetrievalOptions) -> list[Hit]:
        filters.validate_name("knowledge base", kb)
        expr = filters.user_filter(options.filter)
        hits = self.retriever.retrieve(tenant, kb, query, options.top_k or self.settings.top_k,
                                       mode=options.mode or self.settings.retrieval_mode, extra_filter=expr)
        if options.score_threshold is not None:
            hits = [h for h in hits if cosine_of(h) >= options.score_threshold]
        return hits

    def _answer_context(self, tenant: str, kb: str, question: str, options: RetrievalOptions) -> list[Hit]:
        """The passages to answer from: the top `context_chunks` hits, or none when even the best is
        below the answer threshold (the question is off-topic for this kb). The threshold compares the
        embedder's cosine, so it applies only where the embedder reads the question's language."""
        hits = self.search(tenant, kb, question, options)[: self.settings.context_chunks]
        return [] if self.below_threshold(question, hits, options.score_threshold) else hits

    def below_threshold(self, question: str, hits: list[Hit], threshold: float | None = None) -> bool:
        threshold = self.settings.answer_threshold if threshold is None else threshold
        return bool(hits) and self._embedder_reads(question) and max(cosine_of(h) for h in hits) < threshold

    def _embedder_reads(self, question: str) -> bool:
        # The paired CJK model's cosines are not used here: a chunk without CJK text has none (0).
        english_only = self.settings.main_embedding_model_id == BUNDLED_EMBEDDING_MODEL
        return not (english_only and grounding.language_of(question) == "zh")

    def ask(self, tenant: str, kb: str, question: str, options: RetrievalOptions) -> Answer:
        self._require_kb(tenant, kb)
        return self.chat(Context(question=question, hits=self._answer_context(tenant, kb, question, options)))

    def chat_context(self, tenant: str, kb: str, history: list[ChatTurn], question: str,
                     options: RetrievalOptions) -> Context:
        """History-aware retrieval: a follow-up is first condensed into a standalone question."""
        self._require_kb(tenant, kb)
        recent = history[-self.settings.chat_history_messages:] if self.settings.chat_history_messages else []
        language = grounding.language_of(question)
        standalone = self.generator.condense(recent, question, language) if recent else question
        return Context(question=standalone, hits=self._answer_context(tenant, kb, standalone, options),
                       language=language)

    def passages(self, question: str, hits: list[Hit]) -> list[Passage]:
        """The hits' most relevant sentences within the prompt budget ([n] is the n-th passage)."""
        return fit(question, hits, self.settings.context_tokens, self.retriever.tokenizer,
                   question_in_cjk=self.settings.is_cjk_query(question))

    def chat(self, context: Context) -> Answer:
        language = context.answer_language
        passages = self.passages(context.question, context.hits)
        if not passages:
            return Answer.not_found(context.question, language)
        reply = self.generator.answer(context.question, passages, language)
        return Answer.of(reply, [p.hit for p in passages], context.question, language,
                         self.settings.answer_withdraw_unsupported)

    async def chat_stream(self, context: Context) -> AsyncIterator[str | Answer]:
        """The answer's text as it is generated, then the checked Answer (citations, groundedness);
        a note on what is unsupported (or that the answer is withdrawn) is streamed before it, since the
        text is out already."""
        language = context.answer_language
        passages = self.passages(context.question, context.hits)
        if not passages:
            answer = Answer.not_found(context.question, language)
            yield answer.answer
            yield answer
            return
        pieces: list[str] = []
        async for piece in self.generator.stream_answer(context.question, passages, language):
            pieces.append(piece)
            yield piece
        sources = [p.hit for p in passages]
        checked = grounding.check("".join(pieces), sources, language, self.settings.answer_withdraw_unsupported,
                                  question=context.question)
        for note in (grounding.ungrounded_note(checked.unsupported, checked.language, checked.withdrawn),
                     grounding.sources_note("".join(pieces), checked)):
            if note:
                yield f"\n\n{note}"
        yield Answer.checked(checked, sources, context.question)
