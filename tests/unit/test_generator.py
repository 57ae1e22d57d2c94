"""The answer prompt and how the LLM server's errors reach users (no LLM needed)."""

import pytest

from api.errors import http_status
from ragway.context import Passage
from ragway.errors import ContextTooLong, DependencyUnavailable, InvalidRequest
from ragway.generator import (
    ChatTurn,
    build_condense_messages,
    build_messages,
    completion_or_refusal,
    llm_refusal,
    standalone_question,
)
from ragway.grounding import NOT_FOUND
from ragway.records import Hit


def passage(text: str) -> Passage:
    return Passage(Hit("c", 1.0, text, "kb", "d", "s.md", 0, 0, {}), text)


def test_passages_are_numbered_and_the_instructions_follow_them_in_the_questions_language():
    passages = [passage("Expenses are due within 30 days."), passage("Hotels cost 180 euros.")]
    _, user = build_messages("When are expenses due?", passages, "en")
    text = user.content
    assert text.index("[1] Expenses") < text.index("[2] Hotels") < text.index("When are expenses due?")
    assert text.rstrip().endswith(NOT_FOUND["en"]) and "[1]" in text.split("Question:")[1]  # asked to cite
    _, zh = build_messages("报销期限是多久？", passages, "zh")
    assert "问题：报销期限是多久？" in zh.content and zh.content.rstrip().endswith(NOT_FOUND["zh"])


def test_fastchat_errors_become_the_right_ragway_errors():
    overflow = llm_refusal(400, {"object": "error", "code": 40303,
                                 "message": "This model's maximum context length is 4096 tokens."})
    assert isinstance(overflow, ContextTooLong) and "4096" in overflow.message and http_status(overflow) == 400
    assert isinstance(llm_refusal(400, {"object": "error", "code": 40302, "message": "bad top_p"}), InvalidRequest)
    internal = llm_refusal(400, {"object": "error", "code": 50001, "message": "worker died"})
    assert isinstance(internal, DependencyUnavailable) and http_status(internal) == 503
    openai_style = llm_refusal(400, {"error": {"message": "context window exceeded", "code": "context_length"}})
    assert isinstance(openai_style, ContextTooLong)
    assert isinstance(llm_refusal(502, {"error": {"message": "bad gateway"}}), DependencyUnavailable)


def test_a_follow_up_rewrite_is_kept_only_when_it_is_a_question():
    history = [ChatTurn("user", "What is the travel policy for expenses?"),
               ChatTurn("assistant", "Expenses are due within 30 days [1].")]
    assert standalone_question("Who approves travel expenses?", history, "Who approves them?") == \
        "Who approves travel expenses?"
    assert standalone_question("Rewritten question: Who approves travel expenses?\nExtra", history,
                               "Who approves them?") == "Who approves travel expenses?"
    fallback = "What is the travel policy for expenses? Who approves them?"
    assert standalone_question("Expenses are approved by managers.", history, "Who approves them?") == fallback
    assert standalone_question("", history, "Who approves them?") == fallback
    assert standalone_question("谁审批差旅费用？", history, "谁审批？") == "谁审批差旅费用？"


def test_the_condense_prompt_carries_the_transcript_in_the_users_language():
    history = [ChatTurn("user", "差旅政策是什么？"), ChatTurn("assistant", "30天内报销。")]
    (message,) = build_condense_messages(history, "谁审批？", "zh")
    assert "用户: 差旅政策是什么？" in message.content and "助手: 30天内报销。" in message.content
    assert "谁审批？" in message.content


@pytest.mark.parametrize(("status", "body", "error"), [
    (400, b'{"object": "error", "code": 40302, "message": "bad top_p"}', InvalidRequest),
    (200, b'{"object": "error", "code": 50001, "message": "worker died"}', DependencyUnavailable),
    (502, b"<html>bad gateway</html>", DependencyUnavailable),
])
def test_the_plain_models_errors_are_refusals(status, body, error):
    assert completion_or_refusal(200, b'{"object": "chat.completion", "choices": []}')["choices"] == []
    with pytest.raises(error):
        completion_or_refusal(status, body)
