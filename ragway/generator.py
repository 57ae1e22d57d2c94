"""Answer generation from retrieved chunks through any OpenAI-compatible endpoint (FastChat by default)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from prometheus_client import Histogram

from ragway import timing
from ragway.errors import DependencyUnavailable
from ragway.records import Hit
from ragway.settings import Settings

NOT_FOUND_ANSWER = "The documents do not contain the answer to this question."

# Short and direct: the default 135M-parameter model follows little more than this. Asked to cite
# passage numbers it answers with the numbers, so citations are the returned sources, in order.
SYSTEM_PROMPT = (
    "Answer the question using only the context. "
    f"If the context does not contain the answer, say: {NOT_FOUND_ANSWER}"
)
CONDENSE_PROMPT = (
    "Rewrite the last question so that it can be understood without the conversation. "
    "Reply with the rewritten question only."
)
LLM_SECONDS = Histogram("ragway_llm_seconds", "Latency of LLM calls (streams: until the last token)", ["call"])


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" or "assistant"
    content: str


def build_messages(question: str, hits: list[Hit]) -> list:
    context = "\n\n".join(h.text for h in hits)
    return [SystemMessage(SYSTEM_PROMPT), HumanMessage(f"Context:\n{context}\n\nQuestion: {question}")]


def build_condense_messages(history: list[ChatTurn], question: str) -> list:
    turns = [HumanMessage(t.content) if t.role == "user" else AIMessage(t.content) for t in history]
    return [SystemMessage(CONDENSE_PROMPT), *turns, HumanMessage(f"Last question: {question}")]


@contextmanager
def _llm_call(settings: Settings, call: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        with timing.phase("llm"):
            yield
    except Exception as exc:  # openai raises its own connection/timeout/status errors
        raise DependencyUnavailable(f"the LLM at {settings.llm_base_url} failed: {exc}") from exc
    finally:
        LLM_SECONDS.labels(call).observe(time.perf_counter() - start)


class Generator:
    def __init__(self, settings: Settings):
        self.settings = settings
        # FastChat ignores `max_completion_tokens` (what ChatOpenAI sends for max_tokens) and would
        # generate to the context limit, so the limit goes in the body under its classic name.
        self.llm = ChatOpenAI(
            base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.llm_model,
            temperature=settings.llm_temperature, timeout=settings.llm_timeout_s, max_retries=1,
            extra_body={"max_tokens": settings.llm_max_tokens},
        )

    def answer(self, question: str, hits: list[Hit]) -> Reply:
        if not hits:
            return Reply(NOT_FOUND_ANSWER)
        with _llm_call(self.settings, "answer"):
            reply = self.llm.invoke(build_messages(question, hits))
        usage = reply.usage_metadata or {}
        return Reply(str(reply.content).strip() or NOT_FOUND_ANSWER, usage.get("input_tokens", 0),
                     usage.get("output_tokens", 0))

    async def stream_answer(self, question: str, hits: list[Hit]) -> AsyncIterator[str]:
        with _llm_call(self.settings, "stream"):
            async for chunk in self.llm.astream(build_messages(question, hits)):
                if chunk.content:
                    yield str(chunk.content)

    def condense(self, history: list[ChatTurn], question: str) -> str:
        """A standalone version of a follow-up question. Small models ramble or echo: if the rewrite
        is empty or much longer than the inputs, retrieval uses the last user turn plus the question."""
        with _llm_call(self.settings, "condense"):
            reply = self.llm.invoke(build_condense_messages(history, question))
        rewritten = str(reply.content).strip().splitlines()[0].strip() if str(reply.content).strip() else ""
        last_user = next((t.content for t in reversed(history) if t.role == "user"), "")
        if not rewritten or len(rewritten) > 2 * (len(question) + len(last_user)) + 40:
            return f"{last_user} {question}".strip()
        return rewritten

    def ping(self) -> None:
        try:
            resp = httpx.get(f"{self.settings.llm_base_url.rstrip('/')}/models",
                             headers={"Authorization": f"Bearer {self.settings.llm_api_key}"}, timeout=5)
            resp.raise_for_status()
            names = [m["id"] for m in resp.json().get("data", [])]
        except (httpx.HTTPError, ValueError) as exc:
            raise DependencyUnavailable(f"the LLM at {self.settings.llm_base_url} is unreachable: {exc}") from exc
        if self.settings.llm_model not in names:
            raise DependencyUnavailable(f"the LLM endpoint serves {names}, not {self.settings.llm_model!r}")
