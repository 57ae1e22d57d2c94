"""Answer generation from retrieved chunks through any OpenAI-compatible endpoint (FastChat by default)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from prometheus_client import Histogram

from ragway import timing
from ragway.context import Passage
from ragway.errors import ContextTooLong, DependencyUnavailable, InvalidRequest, RagwayError
from ragway.grounding import NOT_FOUND
from ragway.settings import Settings

NOT_FOUND_ANSWER = NOT_FOUND["en"]

# The passages are numbered so the answer can cite them. The instructions follow the passages: put
# before them (in the system message), the 1.5B model declined nearly every question. Asked to "find
# the passage", it sometimes answered with a passage's number and heading; asked for the passages'
# own words, it copies the answer. A decline is asked for verbatim (grounding.is_decline also knows
# its paraphrases); one prompt per answer language, so a Chinese question is answered, and declined,
# in Chinese.
SYSTEM_PROMPTS = {
    "en": "You are a careful assistant that answers questions about a company's documents.",
    "zh": "你是一个严谨的助手，根据公司文档回答问题。",
}
PROMPTS = {
    "en": ("Passages:\n{passages}\n\nQuestion: {question}\n\n"
           "Write the answer to the question as one short sentence that uses the passages' own words, followed "
           "by the number of the passage it comes from, like [1]. If the passages do not answer the question, "
           "write only: {not_found}"),
    "zh": ("段落：\n{passages}\n\n问题：{question}\n\n"
           "用段落中的原话写出这个问题的答案（一句简短的中文），并在后面标出它来自哪个段落，例如 [1]。"
           "如果段落没有回答这个问题，只写：{not_found}"),
}
# The conversation goes in as a transcript inside one message: given as turns, the model answered the
# follow-up instead of rewriting it ("Who approves them?" -> "Expenses are approved by managers.").
CONDENSE_PROMPT = {
    "en": ("Conversation:\n{transcript}\n\nFollow-up question: {question}\n\n"
           "Rewrite the follow-up question so that it can be understood without the conversation (replace words "
           "like it, they, them, that with what they refer to). Do not answer it. Write only the question."),
    "zh": ("对话：\n{transcript}\n\n后续问题：{question}\n\n"
           "改写这个后续问题，使它不看对话也能理解（把“它”“他们”“这个”等换成所指的内容）。不要回答它，只写出改写后的问题。"),
}
SPEAKERS = {"en": {"user": "User", "assistant": "Assistant"}, "zh": {"user": "用户", "assistant": "助手"}}
FASTCHAT_CONTEXT_OVERFLOW = 40303  # fastchat.constants.ErrorCode.CONTEXT_OVERFLOW
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


def build_messages(question: str, passages: list[Passage], language: str) -> list:
    numbered = "\n\n".join(f"[{i}] {p.text}" for i, p in enumerate(passages, 1))
    user = PROMPTS[language].format(passages=numbered, question=question, not_found=NOT_FOUND[language])
    return [SystemMessage(SYSTEM_PROMPTS[language]), HumanMessage(user)]


def build_condense_messages(history: list[ChatTurn], question: str, language: str) -> list:
    transcript = "\n".join(f"{SPEAKERS[language][t.role]}: {t.content}" for t in history)
    return [HumanMessage(CONDENSE_PROMPT[language].format(transcript=transcript, question=question))]


def standalone_question(rewritten: str, history: list[ChatTurn], question: str) -> str:
    """The model's rewrite if it is a question of sensible length; else the last user turn plus the
    question (small models ramble, echo or answer instead of rewriting)."""
    lines = [line.strip() for line in rewritten.strip().splitlines() if line.strip()]
    candidate = re.sub(r"^(standalone question|rewritten question|question|问题|改写后的问题)\s*[:：]\s*", "",
                       lines[0], flags=re.IGNORECASE) if lines else ""
    last_user = next((t.content for t in reversed(history) if t.role == "user"), "")
    is_question = candidate.endswith(("?", "？"))
    if not is_question or len(candidate) > 2 * (len(question) + len(last_user)) + 40:
        return f"{last_user} {question}".strip()
    return candidate


@contextmanager
def _llm_call(settings: Settings, call: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        with timing.phase("llm"):
            yield
    except openai.APIStatusError as exc:
        raise llm_refusal(exc.status_code, exc.body if isinstance(exc.body, dict) else {}) from exc
    except Exception as exc:  # openai raises its own connection/timeout/status errors
        raise DependencyUnavailable(f"the LLM at {settings.llm_base_url} failed: {exc}") from exc
    finally:
        LLM_SECONDS.labels(call).observe(time.perf_counter() - start)


def llm_refusal(status: int, body: dict) -> RagwayError:
    """An error answer of the LLM server as a Ragway error. FastChat answers every error with status
    400 and `{"object": "error", "message", "code"}` (codes 4xxxx: the request's fault, 5xxxx: its own);
    OpenAI-style servers with `{"error": {...}}` and a meaningful status."""
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    message = str(error.get("message") or f"status {status}")
    code = error.get("code")
    if code == FASTCHAT_CONTEXT_OVERFLOW or re.search(r"context (length|size|window)", message, re.IGNORECASE):
        return ContextTooLong(f"the request does not fit the LLM's context window: {message}")
    if (isinstance(code, int) and 40000 <= code < 50000) or (not isinstance(code, int) and 400 <= status < 500):
        return InvalidRequest(f"the LLM refused the request: {message}")
    return DependencyUnavailable(f"the LLM failed: {message}")


def completion_or_refusal(status: int, content: bytes) -> dict[str, Any]:
    """The LLM server's JSON answer, or its error (FastChat: `{"object": "error", "message", "code"}`, all
    with status 400) as a Ragway error: its client mistakes a 400, its own failures a 503."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise DependencyUnavailable(f"the LLM answered {status} with a body that is not JSON") from exc
    if status < 400 and data.get("object") != "error":
        return data
    raise llm_refusal(status, data)


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
        self._http: httpx.AsyncClient | None = None  # for `forward`, opened on the gateway's event loop

    def answer(self, question: str, passages: list[Passage], language: str) -> Reply:
        with _llm_call(self.settings, "answer"):
            reply = self.llm.invoke(build_messages(question, passages, language))
        usage = reply.usage_metadata or {}
        return Reply(str(reply.content).strip(), usage.get("input_tokens", 0), usage.get("output_tokens", 0))

    async def stream_answer(self, question: str, passages: list[Passage], language: str) -> AsyncIterator[str]:
        with _llm_call(self.settings, "stream"):
            async for chunk in self.llm.astream(build_messages(question, passages, language)):
                if chunk.content:
                    yield str(chunk.content)

    def condense(self, history: list[ChatTurn], question: str, language: str) -> str:
        """A standalone version of a follow-up question (see `standalone_question`)."""
        with _llm_call(self.settings, "condense"):
            reply = self.llm.invoke(build_condense_messages(history, question, language))
        return standalone_question(str(reply.content), history, question)

    async def forward(self, payload: dict[str, Any]) -> dict[str, Any] | AsyncIterator[bytes]:
        """An OpenAI chat request for the plain model, sent to the LLM server as it is: the completion,
        or with `stream` its server-sent events as they come. Errors are raised before any byte goes out.
        FastChat ignores `max_completion_tokens` and would generate to the context limit without `max_tokens`."""
        payload = {**payload, "max_tokens": payload.get("max_tokens") or self.settings.llm_max_tokens}
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.settings.llm_base_url.rstrip("/") + "/", timeout=self.settings.llm_timeout_s,
                headers={"Authorization": f"Bearer {self.settings.llm_api_key}"})
        try:
            response = await self._http.send(self._http.build_request("POST", "chat/completions", json=payload),
                                             stream=True)
            if response.status_code >= 400 or not payload.get("stream"):
                content = await response.aread()
                await response.aclose()
                return completion_or_refusal(response.status_code, content)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(f"the LLM at {self.settings.llm_base_url} failed: {exc}") from exc
        return _relay(response)

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


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for raw in response.aiter_raw():
            yield raw
    finally:
        await response.aclose()
