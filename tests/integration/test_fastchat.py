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
    """fschat 0.2.36 alone returns an empty stream under pydantic 2; ragway.fastchat_api fixes it."""
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
