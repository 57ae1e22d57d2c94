"""OpenAI-compatible API: knowledge bases appear as models `kb:<name>`; the plain LLM passes through.

On a kb model, `/v1/chat/completions` condenses a follow-up with the chat history, retrieves from
the kb and answers from the numbered chunks, citing them inline as [n]. The chunks come back in the
extra top-level field `sources` ([n] is `sources[n-1]`), with `citations`, `declined`, `grounded`
and `unsupported` (streams: on the last chunk, before `[DONE]`). An answer whose numbers, names or
quotes are not in its passages carries a note saying so in its content. Retrieval options go in the
extra body field `retrieval` (the `openai` client: `extra_body={"retrieval": {...}}`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import reader
from api.schemas import ChatCompletion, ChatCompletionRequest, ChunkOut, Grounding, ModelList
from api.services import Services, services_dep
from ragway import grounding
from ragway.auth import Caller
from ragway.errors import InvalidRequest, RagwayError
from ragway.generator import ChatTurn
from ragway.rag import Answer, RetrievalOptions

router = APIRouter(tags=["openai-compatible"])
KB_MODEL_PREFIX = "kb:"


@router.get("/v1/models", response_model=ModelList, summary="Knowledge bases you can read (kb:<name>) and the LLM")
def list_models(caller: Caller = Depends(reader), services: Services = Depends(services_dep)) -> ModelList:
    models = [{"id": f"{KB_MODEL_PREFIX}{kb.name}", "object": "model", "created": int(kb.created_at),
               "owned_by": caller.tenant} for kb in services.kbs.list(caller.tenant)]
    models.append({"id": services.settings.llm_model, "object": "model", "created": 0, "owned_by": "ragway"})
    return ModelList(data=models)


@router.post("/v1/chat/completions", response_model=ChatCompletion,
             summary="Chat: on a kb:<name> model, answers from the knowledge base with `sources`")
async def chat_completions(body: ChatCompletionRequest, caller: Caller = Depends(reader),
                           services: Services = Depends(services_dep)):
    _check_size(body, services.settings)
    if not body.model.startswith(KB_MODEL_PREFIX):
        return await _pass_through(body, services)
    kb = body.model.removeprefix(KB_MODEL_PREFIX)
    history, question = _split_messages(body)
    options = body.retrieval.options() if body.retrieval else RetrievalOptions()
    context = await run_in_threadpool(services.rag.chat_context, caller.tenant, kb, history, question, options)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if body.stream:
        pieces = services.rag.chat_stream(context)
        # Wait for the first piece before the status line goes out: an LLM that is down or a prompt over
        # its context window then gets its own status (503, 400), not an error inside a 200 stream.
        first = await anext(pieces)
        return StreamingResponse(_sse(first, pieces, body.model, completion_id), media_type="text/event-stream")
    answer = await run_in_threadpool(services.rag.chat, context)
    return JSONResponse(_completion(answer, body.model, completion_id))


def _check_size(body: ChatCompletionRequest, s) -> None:
    """Client limits, so one request cannot hold the shared LLM (or the gateway's memory) for long."""
    if len(body.messages) > s.chat_max_messages:
        raise InvalidRequest(f"{len(body.messages)} messages; the limit is {s.chat_max_messages}: send the "
                             "recent ones", param="messages")
    for i, message in enumerate(body.messages):
        if len(message.text()) > s.chat_max_message_chars:
            raise InvalidRequest(f"message {i} holds {len(message.text())} characters; the limit is "
                                 f"{s.chat_max_message_chars}", param=f"messages[{i}].content")
    n = (body.model_extra or {}).get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= s.llm_max_choices):
        raise InvalidRequest(f"n must be a whole number from 1 to {s.llm_max_choices} on this server", param="n")
    for field in ("max_tokens", "max_completion_tokens"):
        asked = getattr(body, field)
        if asked is not None and asked > s.llm_max_tokens_limit:
            raise InvalidRequest(f"{field} is {asked}; this server allows at most {s.llm_max_tokens_limit}",
                                 param=field)


def _split_messages(body: ChatCompletionRequest) -> tuple[list[ChatTurn], str]:
    turns = [ChatTurn(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].content.strip():
        raise InvalidRequest("the last message must be a non-empty user message (the question)")
    return turns[:-1], turns[-1].content


def _sources(hits) -> list[dict[str, Any]]:
    return [ChunkOut.of(h).model_dump() for h in hits]


def _extensions(answer: Answer) -> dict[str, Any]:
    return {"sources": _sources(answer.sources), "retrieval_query": answer.question,
            **Grounding.of(answer).model_dump()}


def _completion(answer: Answer, model: str, completion_id: str) -> dict[str, Any]:
    note = "" if answer.declined else grounding.ungrounded_note(answer.unsupported, answer.language)
    content = f"{answer.answer}\n\n{note}" if note else answer.answer
    return {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                  "total_tokens": answer.prompt_tokens + answer.completion_tokens},
        **_extensions(answer),
    }


def _chunk(completion_id: str, model: str, delta: dict, finish_reason: str | None = None, **extra) -> str:
    payload = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def _sse(first: str | Answer, rest: AsyncIterator[str | Answer], model: str,
               completion_id: str) -> AsyncIterator[str]:
    yield _chunk(completion_id, model, {"role": "assistant", "content": ""})

    async def pieces() -> AsyncIterator[str | Answer]:
        yield first
        async for piece in rest:
            yield piece

    try:
        async for piece in pieces():
            if isinstance(piece, Answer):
                yield _chunk(completion_id, model, {}, "stop", **_extensions(piece))
            else:
                yield _chunk(completion_id, model, {"content": piece})
    except RagwayError as exc:  # the status line is sent already: report the error in the stream
        error = {"error": {"code": exc.code, "message": exc.message, "type": exc.code}}
        yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


async def _pass_through(body: ChatCompletionRequest, services: Services):
    """The plain LLM: forwarded to FastChat (or the configured endpoint), streaming included."""
    if body.model != services.settings.llm_model:
        raise InvalidRequest(f"unknown model {body.model!r}; GET /v1/models lists kb:<name> models and "
                             f"{services.settings.llm_model!r}")
    payload = body.model_dump(exclude_none=True, exclude={"retrieval", "max_completion_tokens"})
    payload["max_tokens"] = body.max_tokens or body.max_completion_tokens
    reply = await services.generator.forward(payload)
    if isinstance(reply, dict):
        return JSONResponse(reply)
    return StreamingResponse(reply, media_type="text/event-stream")
