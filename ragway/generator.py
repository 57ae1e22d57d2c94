"""Answer generation from retrieved chunks through any OpenAI-compatible endpoint (FastChat by default)."""

from __future__ import annotations

import httpx
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

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


def build_messages(question: str, hits: list[Hit]) -> list:
    context = "\n\n".join(h.text for h in hits)
    return [SystemMessage(SYSTEM_PROMPT), HumanMessage(f"Context:\n{context}\n\nQuestion: {question}")]


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

    def answer(self, question: str, hits: list[Hit]) -> str:
        if not hits:
            return NOT_FOUND_ANSWER
        try:
            reply = self.llm.invoke(build_messages(question, hits))
        except Exception as exc:  # openai raises its own connection/timeout/status errors
            raise DependencyUnavailable(f"the LLM at {self.settings.llm_base_url} failed: {exc}") from exc
        return str(reply.content).strip() or NOT_FOUND_ANSWER

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
