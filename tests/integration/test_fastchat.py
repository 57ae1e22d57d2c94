"""FastChat's three processes over their real OpenAI-compatible protocol."""

from __future__ import annotations

import json

import httpx


def test_models_and_completion(settings):
    base = settings.llm_base_url
    assert settings.llm_model in [m["id"] for m in httpx.get(f"{base}/models", timeout=10).json()["data"]]
    body = {"model": settings.llm_model, "max_tokens": 20, "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}
    reply = httpx.post(f"{base}/chat/completions", json=body, timeout=120).json()
    assert "Paris" in reply["choices"][0]["message"]["content"]


def test_streaming_works_under_pydantic_2(settings):
    """fschat 0.2.36 alone returns an empty stream under pydantic 2; ragway.apps.fastchat_api fixes it."""
    body = {"model": settings.llm_model, "max_tokens": 20, "temperature": 0, "stream": True,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}
    events = []
    with httpx.stream("POST", f"{settings.llm_base_url}/chat/completions", json=body, timeout=120) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(line[len("data: "):])
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert len(chunks) > 3 and "Paris" in text


def test_chat_logprobs_in_openais_shape_plain_and_streamed(settings):
    """FastChat's chat endpoint ignores `logprobs`; Ragway's server returns them, as OpenAI does."""
    body = {"model": settings.llm_model, "max_tokens": 8, "temperature": 0, "logprobs": True, "top_logprobs": 3,
            "messages": [{"role": "user", "content": "What is the capital of France? One word."}]}
    reply = httpx.post(f"{settings.llm_base_url}/chat/completions", json=body, timeout=120).json()
    choice = reply["choices"][0]
    tokens = choice["logprobs"]["content"]
    assert "Paris" in choice["message"]["content"] and "".join(t["token"] for t in tokens).startswith("Paris")
    assert all(t["logprob"] <= 0 and 1 <= len(t["top_logprobs"]) <= 3 for t in tokens)
    assert tokens[0]["top_logprobs"][0]["token"] == tokens[0]["token"]  # greedy: the chosen is the likeliest

    events = []
    with httpx.stream("POST", f"{settings.llm_base_url}/chat/completions", json={**body, "stream": True},
                      timeout=120) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(line[len("data: "):])
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e)["choices"][0] for e in events[:-1]]
    streamed = [t for c in chunks if c.get("logprobs") for t in c["logprobs"]["content"]]
    assert [t["token"] for t in streamed] == [t["token"] for t in tokens]
    assert chunks[-1]["finish_reason"] == "stop"
    plain = httpx.post(f"{settings.llm_base_url}/chat/completions", json={**body, "logprobs": False}, timeout=120)
    assert "logprobs" not in plain.json()["choices"][0] or plain.json()["choices"][0]["logprobs"] is None
