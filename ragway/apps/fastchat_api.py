"""FastChat's openai_api_server, with its streaming fixed for pydantic 2 and chat log-probabilities.

fschat 0.2.36 serialises stream chunks with `chunk.json(..., ensure_ascii=False)`, which pydantic 2
rejects, so `stream: true` returned an empty body. The stream response models get a pydantic-2
`json` here. FastChat's chat endpoint also ignores OpenAI's `logprobs` / `top_logprobs` (its
completions endpoint has them); a chat request asking for them is served here, in OpenAI's chat
shape, from the same worker output; every other request is FastChat's own. Usage: the same flags as
`python -m fastchat.serve.openai_api_server`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import shortuuid
import uvicorn
from fastapi import Depends
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastchat.constants import ErrorCode
from fastchat.protocol import openai_api_protocol as protocol
from fastchat.serve import openai_api_server as server
from pydantic import Field

CHAT_PATH = "/v1/chat/completions"
_fastchat_chat = None  # FastChat's own chat endpoint (the module holds two functions of its name)


def _json_pydantic2(self, **kwargs: Any) -> str:
    kwargs.pop("ensure_ascii", None)  # model_dump_json never escapes non-ASCII text
    return self.model_dump_json(**kwargs)


def patch_stream_serialisation() -> None:
    for model in (protocol.ChatCompletionStreamResponse, protocol.CompletionStreamResponse):
        model.json = _json_pydantic2


class ChatRequest(protocol.ChatCompletionRequest):
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)


def chat_logprobs(worker_logprobs: dict[str, list] | None, start: int) -> dict[str, list] | None:
    """The worker's log-probabilities (FastChat's completions shape) of tokens `start:` in OpenAI's
    chat shape: `{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`."""
    if not worker_logprobs:
        return None
    tokens = worker_logprobs.get("tokens", [])[start:]
    values = worker_logprobs.get("token_logprobs", [])[start:]
    tops = worker_logprobs.get("top_logprobs", [])[start:]

    def entry(token: str, logprob: float | None) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8", "replace"))}

    return {"content": [{**entry(token, value), "top_logprobs": [entry(t, v) for t, v in (top or {}).items()]}
                        for token, value, top in zip(tokens, values, tops, strict=False)]}


async def _prepared(request: ChatRequest) -> tuple[dict[str, Any], str] | JSONResponse:
    """FastChat's own checks and generation parameters, asking the worker for log-probabilities."""
    error = await server.check_model(request) or server.check_requests(request)
    if error is not None:
        return error
    if request.n != 1:
        return server.create_error_response(ErrorCode.PARAM_OUT_OF_RANGE, "logprobs are served for n=1 only")
    worker = await server.get_worker_address(request.model)
    params = await server.get_gen_params(
        request.model, worker, request.messages, temperature=request.temperature, top_p=request.top_p,
        top_k=request.top_k, presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty, max_tokens=request.max_tokens, echo=False,
        logprobs=request.top_logprobs or 1, stop=request.stop)
    max_new_tokens, error = await server.check_length(request, params["prompt"], params["max_new_tokens"], worker)
    if error is not None:
        return error
    params["max_new_tokens"] = max_new_tokens
    return params, worker


def _chunk(chat_id: str, model: str, delta: dict[str, Any], logprobs: dict | None = None,
           finish_reason: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
    body = {"id": chat_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [choice]}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _stream(model: str, params: dict[str, Any], worker: str) -> AsyncIterator[str]:
    chat_id = f"chatcmpl-{shortuuid.random()}"
    yield _chunk(chat_id, model, {"role": "assistant"})
    text, tokens, finish_reason = "", 0, None
    async for content in server.generate_completion_stream(params, worker):
        if content["error_code"] != 0:
            yield f"data: {json.dumps(content, ensure_ascii=False)}\n\n"
            break
        decoded = content["text"].replace("\ufffd", "")
        delta, text = decoded[len(text):], max(decoded, text, key=len)
        logprobs = chat_logprobs(content.get("logprobs"), tokens)
        tokens += len(logprobs["content"]) if logprobs else 0
        finish_reason = content.get("finish_reason") or finish_reason
        if delta or (logprobs and logprobs["content"]):
            yield _chunk(chat_id, model, {"content": delta}, logprobs)
    else:
        yield _chunk(chat_id, model, {}, finish_reason=finish_reason or "stop")
    yield "data: [DONE]\n\n"


async def create_chat_completion(request: ChatRequest):
    """FastChat's chat completion; with `logprobs`, served here with the tokens' log-probabilities."""
    if not request.logprobs:
        return await _fastchat_chat(request)
    prepared = await _prepared(request)
    if isinstance(prepared, JSONResponse):
        return prepared
    params, worker = prepared
    if request.stream:
        return StreamingResponse(_stream(request.model, params, worker), media_type="text/event-stream")
    content = await server.generate_completion(params, worker)
    if content["error_code"] != 0:
        return server.create_error_response(content["error_code"], content["text"])
    choice = {"index": 0, "message": {"role": "assistant", "content": content["text"]},
              "logprobs": chat_logprobs(content.get("logprobs"), 0),
              "finish_reason": content.get("finish_reason") or "stop"}
    return {"id": f"chatcmpl-{shortuuid.random()}", "object": "chat.completion", "created": int(time.time()),
            "model": request.model, "choices": [choice], "usage": content.get("usage") or {}}


def serve_chat_logprobs() -> None:
    """Route chat completions through `create_chat_completion`, which hands FastChat's endpoint the rest."""
    global _fastchat_chat
    ours = [r for r in server.app.router.routes if isinstance(r, APIRoute) and r.path == CHAT_PATH]
    if ours and ours[0].endpoint is create_chat_completion:
        return
    _fastchat_chat = ours[0].endpoint
    server.app.router.routes = [r for r in server.app.router.routes if r not in ours]
    server.app.post(CHAT_PATH, dependencies=[Depends(server.check_api_key)])(create_chat_completion)


def main() -> None:
    patch_stream_serialisation()
    serve_chat_logprobs()
    args = server.create_openai_api_server()
    uvicorn.run(server.app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
