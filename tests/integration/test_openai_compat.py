"""The OpenAI-compatible API, driven by the official `openai` client and LangChain's ChatOpenAI,
unchanged, against the real gateway, FastChat and Milvus."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI
from openai import OpenAI

from tests.integration.conftest import SAMPLE_DIR, new_kb, wait_for_job

TRAVEL = "travel-policy.md"


@pytest.fixture(scope="module")
def kb(client):
    name = new_kb(client, "chat")
    paths = sorted(p for p in SAMPLE_DIR.iterdir() if p.is_file())
    job = wait_for_job(client, client.upload(name, paths)["job_id"])
    assert job["status"] == "done", job
    return name


@pytest.fixture(scope="module")
def openai_client(client, settings) -> OpenAI:
    return OpenAI(base_url=f"{settings.gateway_url}/v1", api_key=client.api_key, max_retries=0)


def test_models_lists_kbs_and_the_llm(openai_client, kb, settings):
    ids = {m.id for m in openai_client.models.list()}
    assert f"kb:{kb}" in ids and settings.llm_model in ids


def test_chat_on_a_kb_answers_with_sources(openai_client, kb):
    resp = openai_client.chat.completions.create(
        model=f"kb:{kb}", messages=[{"role": "user", "content": "What is the hotel limit per night in Europe?"}],
        extra_body={"retrieval": {"top_k": 3}})
    assert resp.choices[0].message.content.strip()
    sources = resp.model_extra["sources"]
    assert sources[0]["source"] == TRAVEL and "180 euros" in sources[0]["text"]
    assert resp.usage.completion_tokens > 0


def test_streaming_chat_sends_the_sources_at_the_end(openai_client, kb):
    stream = openai_client.chat.completions.create(
        model=f"kb:{kb}", messages=[{"role": "user", "content": "When must travel expenses be submitted?"}],
        stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip() and len(chunks) > 3
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["sources"][0]["source"] == TRAVEL
    assert all("sources" not in (c.model_extra or {}) for c in chunks[:-1])


def test_a_follow_up_is_condensed_with_the_history(openai_client, kb):
    history = [{"role": "user", "content": "Tell me about the rules for hotels on business trips."},
               {"role": "assistant", "content": "Hotels are booked through the company travel portal."},
               {"role": "user", "content": "And what is the limit per night in North America?"}]
    resp = openai_client.chat.completions.create(model=f"kb:{kb}", messages=history)
    query = resp.model_extra["retrieval_query"]
    assert query != history[-1]["content"] and query.rstrip().endswith("?"), query  # a question, not an answer
    assert resp.model_extra["sources"][0]["source"] == TRAVEL
    assert "220" in resp.model_extra["sources"][0]["text"]


def test_retrieval_options_filter_and_threshold(openai_client, kb):
    only_faq = openai_client.chat.completions.create(
        model=f"kb:{kb}", messages=[{"role": "user", "content": "What is the hotel limit?"}],
        extra_body={"retrieval": {"filter": {"source": "security-faq.html"}, "score_threshold": -1}})
    assert {s["source"] for s in only_faq.model_extra["sources"]} == {"security-faq.html"}
    nothing = openai_client.chat.completions.create(
        model=f"kb:{kb}", messages=[{"role": "user", "content": "What is the hotel limit?"}],
        extra_body={"retrieval": {"score_threshold": 0.99}})
    assert nothing.model_extra["sources"] == []
    assert "do not contain" in nothing.choices[0].message.content


def test_the_plain_model_passes_through_to_fastchat(openai_client, settings):
    resp = openai_client.chat.completions.create(
        model=settings.llm_model, messages=[{"role": "user", "content": "Say hello."}], max_tokens=16)
    assert resp.choices[0].message.content.strip() and "sources" not in (resp.model_extra or {})
    pieces = list(openai_client.chat.completions.create(
        model=settings.llm_model, messages=[{"role": "user", "content": "Count to three."}], max_tokens=16,
        stream=True))
    assert "".join(p.choices[0].delta.content or "" for p in pieces if p.choices).strip()
    scored = openai_client.chat.completions.create(
        model=settings.llm_model, messages=[{"role": "user", "content": "Say hello."}], max_tokens=4,
        logprobs=True, top_logprobs=2)
    tokens = scored.choices[0].logprobs.content
    assert tokens and all(t.logprob <= 0 and len(t.top_logprobs) <= 2 for t in tokens)


def test_langchain_chat_openai_works_unchanged(client, kb, settings):
    llm = ChatOpenAI(base_url=f"{settings.gateway_url}/v1", api_key=client.api_key, model=f"kb:{kb}",
                     max_tokens=64, max_retries=0)
    reply = llm.invoke([HumanMessage("What is the hotel limit per night in Europe?")])
    assert isinstance(reply, AIMessage) and reply.content.strip()
    streamed = "".join(str(c.content) for c in llm.stream("When must travel expenses be submitted?"))
    assert streamed.strip()
    plain = ChatOpenAI(base_url=f"{settings.gateway_url}/v1", api_key=client.api_key, model=settings.llm_model,
                       max_tokens=16, max_retries=0)
    assert plain.invoke("Say hello.").content.strip()


def test_chat_needs_a_key_and_a_readable_kb(settings, kb):
    anonymous = OpenAI(base_url=f"{settings.gateway_url}/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(Exception, match="401"):
        anonymous.chat.completions.create(model=f"kb:{kb}", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("mode", ["dense", "mmr", "bm25", "hybrid"])
def test_every_retrieval_mode_through_the_gateway(client, kb, mode):
    hits = client.search(kb, "hotel limit per night in Europe", top_k=3, mode=mode)["hits"]
    assert hits[0]["source"] == TRAVEL and "180 euros" in hits[0]["text"]
    assert hits[0]["metadata"]["retrieval"]["mode"] == mode
    assert len({h["chunk_id"] for h in hits}) == len(hits)


def test_chat_with_mmr_and_hybrid_retrieval(openai_client, kb):
    for mode in ("mmr", "hybrid"):
        resp = openai_client.chat.completions.create(
            model=f"kb:{kb}", messages=[{"role": "user", "content": "What is the hotel limit per night in Europe?"}],
            extra_body={"retrieval": {"top_k": 3, "mode": mode}})
        sources = resp.model_extra["sources"]
        assert sources and sources[0]["source"] == TRAVEL, (mode, sources)
        assert all(s["metadata"]["retrieval"]["mode"] == mode for s in sources)
