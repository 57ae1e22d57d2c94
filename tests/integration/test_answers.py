"""Answers from the real stack: the llama.cpp FastChat worker registered with the controller, served
by openai_api_server, answering through the gateway with inline citations that map to sources,
in the question's language, declining what the documents do not hold."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from openai import BadRequestError, OpenAI

from ragway.apps.stack import controller_url
from ragway.grounding import NOT_FOUND
from tests.integration.conftest import SAMPLE_DIR, new_kb, wait_for_job

TRAVEL, LEAVE = "travel-policy.md", "leave-policy-zh.txt"
CJK = range(0x4E00, 0xA000)


@pytest.fixture(scope="module")
def kb(client):
    name = new_kb(client, "answers")
    job = wait_for_job(client, client.upload(name, sorted(p for p in SAMPLE_DIR.iterdir() if p.is_file()))["job_id"])
    assert job["status"] == "done", job
    return name


@pytest.fixture(scope="module")
def gateway_openai(client, settings) -> OpenAI:
    return OpenAI(base_url=f"{settings.gateway_url}/v1", api_key=client.api_key, max_retries=0)


def cited_sources(result: dict) -> set[str]:
    return {c["source"] for c in result["citations"]}


def test_the_llamacpp_worker_is_registered_like_fastchats_own(settings):
    controller = controller_url(settings)
    assert settings.fastchat_worker_kind == "llamacpp"
    assert settings.llm_model in httpx.post(f"{controller}/list_models", timeout=10).json()["models"]
    worker = httpx.post(f"{controller}/get_worker_address", json={"model": settings.llm_model}, timeout=10).json()
    status = httpx.post(f"{worker['address']}/worker_get_status", timeout=10).json()
    assert status["model_names"] == [settings.llm_model]
    details = httpx.post(f"{worker['address']}/model_details", json={}, timeout=10).json()
    assert details["context_length"] == settings.llm_context_tokens
    count = httpx.post(f"{worker['address']}/count_token", json={"prompt": "Hello world"}, timeout=10).json()
    assert 1 <= count["count"] <= 4 and count["error_code"] == 0


def test_openai_client_plain_and_streaming_with_usage_and_stop(settings):
    llm = OpenAI(base_url=settings.llm_base_url, api_key="EMPTY", max_retries=0)
    reply = llm.chat.completions.create(model=settings.llm_model, temperature=0, max_tokens=20,
                                        messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert "Paris" in reply.choices[0].message.content
    assert reply.usage.prompt_tokens > 5 and reply.usage.completion_tokens > 0
    stream = llm.chat.completions.create(
        model=settings.llm_model, temperature=0, max_tokens=60, stream=True, stop=["5"],
        messages=[{"role": "user", "content": "Count from 1 to 10, digits separated by commas."}])
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "1" in text and "4" in text and "5" not in text and "6" not in text, text


def test_a_prompt_over_the_context_window_is_a_400_from_fastchat(settings):
    llm = OpenAI(base_url=settings.llm_base_url, api_key="EMPTY", max_retries=0)
    too_long = "word " * (settings.llm_context_tokens + 500)
    with pytest.raises(BadRequestError, match="maximum context length"):
        llm.chat.completions.create(model=settings.llm_model, max_tokens=10,
                                    messages=[{"role": "user", "content": too_long}])


def test_ask_answers_with_an_inline_citation_that_maps_to_its_source(client, kb):
    result = client.ask(kb, "Within how many days must travel expenses be submitted?")
    assert "30" in result["answer"] and not result["declined"] and result["grounded"], result
    assert "[" in result["answer"] and cited_sources(result) == {TRAVEL}
    for citation in result["citations"]:
        source = result["sources"][citation["n"] - 1]
        assert (source["source"], source["chunk_index"], source["doc_id"]) == (
            citation["source"], citation["chunk_index"], citation["doc_id"])
        assert f"[{citation['n']}]" in result["answer"]
    assert "30 days" in result["sources"][result["citations"][0]["n"] - 1]["text"]


def test_a_chinese_question_gets_a_chinese_answer(client, kb):
    result = client.ask(kb, "新员工入职第一年有多少天带薪年假？")
    assert not result["declined"], result
    assert "十五" in result["answer"] or "15" in result["answer"], result
    assert sum(ord(ch) in CJK for ch in result["answer"]) >= 2, result
    assert LEAVE in {s["source"] for s in result["sources"]}


def test_a_question_the_documents_do_not_answer_is_declined_in_its_language(client, kb):
    english = client.ask(kb, "What was the company's revenue in 2019?")
    assert english["declined"] and english["answer"] == NOT_FOUND["en"] and english["citations"] == []
    chinese = client.ask(kb, "公司2019年的营业收入是多少？")
    assert chinese["declined"] and chinese["answer"] == NOT_FOUND["zh"], chinese


def test_kb_chat_streams_the_answer_then_its_citations(gateway_openai, kb):
    stream = gateway_openai.chat.completions.create(
        model=f"kb:{kb}", stream=True,
        messages=[{"role": "user", "content": "What is the hotel limit per night in Europe?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1].model_extra
    assert "180" in text and last["grounded"] and not last["declined"], (text, last)
    assert {c["source"] for c in last["citations"]} == {TRAVEL}
    assert all(f"[{c['n']}]" in text for c in last["citations"])


def test_kb_chat_over_the_context_window_is_a_400_not_a_503(gateway_openai, kb, client, settings):
    # ~7,000 characters, within the question limit; a token per digit, far past 4,096 tokens
    question = "请核对以下编号：" + " ".join(str(100_000 + i) for i in range(990))
    for stream in (False, True):
        with pytest.raises(BadRequestError) as info:
            gateway_openai.chat.completions.create(model=f"kb:{kb}", stream=stream,
                                                   messages=[{"role": "user", "content": question}])
        assert info.value.body["code"] == "context_length_exceeded", info.value.body
        assert "context" in info.value.body["message"]
    response = httpx.post(f"{settings.gateway_url}/v1/ask", json={"kb": kb, "question": question},
                          headers={"Authorization": f"Bearer {client.api_key}"}, timeout=120)
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"
    plain = httpx.post(f"{settings.gateway_url}/v1/chat/completions", timeout=120,
                       headers={"Authorization": f"Bearer {client.api_key}"},
                       json={"model": settings.llm_model, "messages": [{"role": "user", "content": question}]})
    assert plain.status_code == 400, plain.text
    assert plain.json()["error"]["type"] == "context_length_exceeded"


def test_a_model_file_with_the_wrong_hash_is_refused_with_a_readable_error(settings, tmp_path):
    env = {**os.environ, "RAGWAY_LLM_GGUF_SHA256": "0" * 64, "LOGDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "ragway.apps.fastchat_worker", "llamacpp", "--port", "21099",
                           "--model-path", "unused", "--model-names", "x", "--no-register"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "refusing to serve" in proc.stderr and "expected " + "0" * 64 in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
