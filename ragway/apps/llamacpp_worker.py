"""A FastChat model worker backed by llama.cpp (the `xllamacpp` wheel): fast CPU generation from a GGUF file.

It speaks FastChat's worker protocol exactly as FastChat's own workers do: it registers with the
controller and heartbeats (`BaseModelWorker`), and serves `worker_generate_stream` (NUL-separated JSON
messages carrying the text so far), `worker_generate`, `count_token`, `model_details` and
`worker_get_conv_template` on FastChat's worker app, so `openai_api_server` serves it unchanged.
FastChat builds the prompt with the conversation template; llama.cpp runs it as a plain completion.

Usage: `python -m ragway.apps.fastchat_worker llamacpp --model-path FILE.gguf --model-names NAME ...`."""

from __future__ import annotations

import argparse
import json
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from fastchat.constants import ErrorCode
from fastchat.serve import base_model_worker
from fastchat.serve.base_model_worker import BaseModelWorker

_END = object()
# FastChat's name for a prompt that does not fit; its openai_api_server turns it into a 400.
_LLAMA_ERRORS = {"exceed_context_size_error": ErrorCode.CONTEXT_OVERFLOW,
                 "invalid_request_error": ErrorCode.PARAM_OUT_OF_RANGE}


def completion_request(params: dict[str, Any], repeat_penalty: float) -> dict[str, Any]:
    """FastChat's generation parameters as a llama.cpp completion request."""
    stop = params.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    temperature = float(params.get("temperature", 0.7))
    request = {
        "prompt": params["prompt"],
        "n_predict": int(params.get("max_new_tokens", 256)),
        "temperature": temperature,
        "top_p": float(params.get("top_p", 1.0)),
        "stop": stop,
        "stream": True,
        "cache_prompt": True,
        # FastChat sends 1.0 ("off"): the worker's own setting keeps answers from looping.
        "repeat_penalty": max(float(params.get("repetition_penalty") or 1.0), repeat_penalty),
        "repeat_last_n": 64,
        "presence_penalty": float(params.get("presence_penalty") or 0.0),
        "frequency_penalty": float(params.get("frequency_penalty") or 0.0),
    }
    top_k = int(params.get("top_k", -1))
    if top_k > 0:
        request["top_k"] = top_k
    if "seed" in params and params["seed"] is not None:
        request["seed"] = int(params["seed"])
    if params.get("logprobs") is not None:  # how many alternatives per token; FastChat passes it as is
        request["logprobs"] = max(1, int(params["logprobs"]))
    return request


class TokenLogprobs:
    """llama.cpp's per-token log-probabilities, gathered into FastChat's (and OpenAI completions')
    shape: tokens, their log-probabilities, the top alternatives of each, and text offsets."""

    def __init__(self, offset: int = 0):
        self.offset = offset
        self.value: dict[str, list] = {"text_offset": [], "tokens": [], "token_logprobs": [], "top_logprobs": []}

    def add(self, content: list[dict[str, Any]]) -> None:
        for item in content:
            self.value["text_offset"].append(self.offset)
            self.value["tokens"].append(item["token"])
            self.value["token_logprobs"].append(item["logprob"])
            self.value["top_logprobs"].append({t["token"]: t["logprob"] for t in item.get("top_logprobs", [])})
            self.offset += len(item["token"])


def fastchat_error(error: dict[str, Any]) -> dict[str, Any]:
    """A llama.cpp error as FastChat's worker reports one."""
    code = _LLAMA_ERRORS.get(str(error.get("type")), ErrorCode.INTERNAL_ERROR)
    return {"text": f"llama.cpp: {error.get('message', error)}", "error_code": code}


class LlamaCppWorker(BaseModelWorker):
    def __init__(self, *, controller_addr: str, worker_addr: str, model_path: str, model_names: list[str],
                 conv_template: str, limit_worker_concurrency: int, n_ctx: int, threads: int, parallel: int,
                 repeat_penalty: float, prompt_cache_mib: int, stream_interval: int = 2, no_register: bool = False):
        super().__init__(controller_addr, worker_addr, uuid.uuid4().hex[:8], model_path, model_names,
                         limit_worker_concurrency, conv_template=conv_template)
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = model_path
        params.n_ctx = n_ctx * parallel  # llama.cpp splits the context among its slots
        params.n_parallel = parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        # llama.cpp keeps earlier prompts' KV in RAM to reuse shared prefixes; its 8 GiB default grew the
        # worker past 5 GB in an hour of questions.
        params.cache_ram_mib = prompt_cache_mib
        self.engine = xllamacpp.Server(params)
        self.context_len = n_ctx
        self.repeat_penalty = repeat_penalty
        self.stream_interval = stream_interval
        # The engine's own tokenizer, through the loopback HTTP endpoint llama.cpp's server runs.
        self._http = httpx.Client(base_url=self.engine.listening_address, timeout=30)
        if not no_register:
            self.init_heart_beat()

    def count_token(self, params: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post("/tokenize", json={"content": params["prompt"]})
        response.raise_for_status()
        return {"count": len(response.json()["tokens"]), "error_code": 0}

    def generate_stream_gate(self, params: dict[str, Any]) -> Iterator[bytes]:
        for message in self.generate_stream(params):
            yield json.dumps(message, ensure_ascii=False).encode() + b"\0"

    def generate_gate(self, params: dict[str, Any]) -> dict[str, Any]:
        last: dict[str, Any] = {"text": "", "error_code": 0}
        for message in self.generate_stream(params):
            last = message
        return last

    def generate_stream(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """FastChat's stream messages: the text so far, then usage and the finish reason."""
        self.call_ct += 1
        pieces: queue.Queue = queue.Queue()
        stopped = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            pieces.put(chunk)
            return stopped.is_set()  # True asks llama.cpp to stop (the client went away)

        def run() -> None:
            try:
                result = self.engine.handle_completions(completion_request(params, self.repeat_penalty), on_chunk)
                if isinstance(result, dict) and "error" in result:
                    pieces.put(result)
            except Exception as exc:  # reported to the client, not swallowed
                pieces.put({"error": {"message": str(exc), "type": "internal"}})
            finally:
                pieces.put(_END)

        thread = threading.Thread(target=run, daemon=True, name="llama.cpp")
        thread.start()
        prompt_text = params["prompt"] if params.get("echo") else ""
        logprobs = TokenLogprobs(len(prompt_text)) if params.get("logprobs") is not None else None
        text = ""
        held = 0  # tokens not sent yet: a message goes out every `stream_interval` tokens, as FastChat's workers do
        try:
            while (chunk := pieces.get()) is not _END:
                if "error" in chunk:
                    yield fastchat_error(chunk["error"])
                    continue
                choice = chunk["choices"][0]
                text += choice.get("text", "")
                if logprobs is not None:
                    logprobs.add((choice.get("logprobs") or {}).get("content") or [])
                held += 1
                if held < self.stream_interval and choice.get("finish_reason") is None and "usage" not in chunk:
                    continue
                held = 0
                message = {"text": prompt_text + text, "error_code": 0, "finish_reason": choice.get("finish_reason")}
                if logprobs is not None:
                    message["logprobs"] = logprobs.value
                if "usage" in chunk:
                    usage = chunk["usage"]
                    message["usage"] = {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
                yield message
            if held:  # the engine ended without a closing message: what it said still goes out
                yield {"text": prompt_text + text, "error_code": 0, "finish_reason": None,
                       **({"logprobs": logprobs.value} if logprobs is not None else {})}
        finally:
            stopped.set()
            thread.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=21002)
    parser.add_argument("--worker-address", default="http://127.0.0.1:21002")
    parser.add_argument("--controller-address", default="http://127.0.0.1:21001")
    parser.add_argument("--model-path", required=True, help="GGUF file")
    parser.add_argument("--model-names", required=True, help="Comma-separated names the model is served under")
    parser.add_argument("--conv-template", default="qwen-7b-chat")
    parser.add_argument("--limit-worker-concurrency", type=int, default=5)
    parser.add_argument("--context-length", type=int, default=4096, help="Tokens per request (prompt + answer)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=1, help="Requests decoded together (llama.cpp slots)")
    parser.add_argument("--repeat-penalty", type=float, default=1.1)
    parser.add_argument("--prompt-cache-mib", type=int, default=512, help="RAM for reusable prompt prefixes")
    parser.add_argument("--stream-interval", type=int, default=2, help="Tokens per streamed message")
    parser.add_argument("--no-register", action="store_true")
    args = parser.parse_args(argv)
    worker = LlamaCppWorker(
        controller_addr=args.controller_address, worker_addr=args.worker_address, model_path=args.model_path,
        model_names=args.model_names.split(","), conv_template=args.conv_template,
        limit_worker_concurrency=args.limit_worker_concurrency, n_ctx=args.context_length, threads=args.threads,
        parallel=args.parallel, repeat_penalty=args.repeat_penalty, prompt_cache_mib=args.prompt_cache_mib,
        stream_interval=args.stream_interval, no_register=args.no_register)
    base_model_worker.worker = worker
    uvicorn.run(base_model_worker.app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
