"""The chat log-probabilities Ragway adds to FastChat's OpenAI server, in OpenAI's chat shape."""

import os
import tempfile

os.environ.setdefault("LOGDIR", tempfile.gettempdir())  # FastChat's server module opens its log file on import

from fastapi.routing import APIRoute  # noqa: E402
from fastchat.serve import openai_api_server as server  # noqa: E402

from ragway.apps import fastchat_api  # noqa: E402


def test_worker_logprobs_become_openai_chat_logprobs_from_a_given_token():
    worker = {"text_offset": [0, 3], "tokens": ["The", " 文"], "token_logprobs": [-0.5, -0.1],
              "top_logprobs": [{"The": -0.5, "Paris": -1.2}, {" 文": -0.1}]}
    content = fastchat_api.chat_logprobs(worker, 0)["content"]
    assert [c["token"] for c in content] == ["The", " 文"] and content[0]["logprob"] == -0.5
    assert content[0]["top_logprobs"][1] == {"token": "Paris", "logprob": -1.2, "bytes": list(b"Paris")}
    assert content[1]["bytes"] == list(" 文".encode())
    assert [c["token"] for c in fastchat_api.chat_logprobs(worker, 1)["content"]] == [" 文"]
    assert fastchat_api.chat_logprobs(None, 0) is None


def test_the_chat_route_is_replaced_once_and_keeps_fastchats_for_plain_requests():
    fastchat_api.serve_chat_logprobs()
    fastchat_api.serve_chat_logprobs()
    routes = [r for r in server.app.router.routes if isinstance(r, APIRoute) and r.path == fastchat_api.CHAT_PATH]
    assert len(routes) == 1 and routes[0].endpoint is fastchat_api.create_chat_completion
    assert fastchat_api._fastchat_chat is not None and fastchat_api._fastchat_chat is not routes[0].endpoint
