"""FastChat's generation parameters as llama.cpp requests, and llama.cpp errors as FastChat's."""

from fastchat.constants import ErrorCode

from ragway.apps.llamacpp_worker import LlamaCppWorker, TokenLogprobs, completion_request, fastchat_error


def test_fastchat_params_become_a_streamed_llamacpp_completion():
    params = {"prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "temperature": 0.0, "top_p": 1.0,
              "max_new_tokens": 64, "stop": "<|im_end|>", "stop_token_ids": [151643], "echo": False,
              "repetition_penalty": 1.0}
    request = completion_request(params, repeat_penalty=1.1)
    assert request["prompt"] == params["prompt"] and request["n_predict"] == 64 and request["stream"]
    assert request["stop"] == ["<|im_end|>"] and request["temperature"] == 0.0 and request["cache_prompt"]
    assert request["repeat_penalty"] == 1.1 and request["repeat_last_n"] == 64  # FastChat's 1.0 cannot turn it off
    assert "top_k" not in request  # FastChat's -1: llama.cpp's default
    assert completion_request({**params, "repetition_penalty": 1.3, "top_k": 5, "stop": ["a", "b"]}, 1.1) \
        == {**request, "repeat_penalty": 1.3, "top_k": 5, "stop": ["a", "b"]}


def test_llamacpp_errors_keep_their_meaning_for_fastchat():
    overflow = fastchat_error({"code": 400, "type": "exceed_context_size_error",
                               "message": "request (5001 tokens) exceeds the available context size (4096 tokens)"})
    assert overflow["error_code"] == ErrorCode.CONTEXT_OVERFLOW and "5001 tokens" in overflow["text"]
    assert fastchat_error({"message": "boom", "type": "internal"})["error_code"] == ErrorCode.INTERNAL_ERROR


def test_logprobs_are_asked_of_llamacpp_and_gathered_in_fastchats_shape():
    params = {"prompt": "p", "logprobs": 3}
    assert completion_request(params, 1.1)["logprobs"] == 3
    assert "logprobs" not in completion_request({"prompt": "p"}, 1.1)
    gathered = TokenLogprobs()
    gathered.add([{"token": "The", "logprob": -0.5, "top_logprobs": [{"token": "The", "logprob": -0.5},
                                                                      {"token": "Paris", "logprob": -1.2}]}])
    gathered.add([{"token": " end", "logprob": -0.1, "top_logprobs": []}])
    assert gathered.value == {"text_offset": [0, 3], "tokens": ["The", " end"], "token_logprobs": [-0.5, -0.1],
                              "top_logprobs": [{"The": -0.5, "Paris": -1.2}, {}]}


class FakeEngine:
    """llama.cpp's streamed completion: one chunk per token through the callback."""

    def __init__(self, tokens: list[str], closing: bool = True):
        self.tokens, self.closing = tokens, closing

    def handle_completions(self, request, on_chunk):
        for i, token in enumerate(self.tokens):
            last = self.closing and i == len(self.tokens) - 1
            chunk = {"choices": [{"text": token, "finish_reason": "stop" if last else None}]}
            if last:
                chunk["usage"] = {"prompt_tokens": 3, "completion_tokens": len(self.tokens), "total_tokens": 9}
            on_chunk(chunk)


def streamed(tokens: list[str], interval: int, closing: bool = True) -> list[dict]:
    worker = LlamaCppWorker.__new__(LlamaCppWorker)  # the engine only: no model file, no controller
    worker.engine, worker.repeat_penalty, worker.stream_interval, worker.call_ct = \
        FakeEngine(tokens, closing), 1.1, interval, 0
    return list(worker.generate_stream({"prompt": "p"}))


def test_a_message_every_stream_interval_tokens_and_nothing_held_back():
    tokens = ["The", " answer", " is", " 30", " days"]
    messages = streamed(tokens, interval=2)
    assert [m["text"] for m in messages] == ["The answer", "The answer is 30", "The answer is 30 days"]
    assert messages[-1]["finish_reason"] == "stop" and messages[-1]["usage"]["completion_tokens"] == 5
    assert [m["text"] for m in streamed(tokens, interval=1)] == \
        ["The", "The answer", "The answer is", "The answer is 30", "The answer is 30 days"]
    unclosed = streamed(tokens, interval=2, closing=False)  # an engine that stops without a closing chunk
    assert unclosed[-1]["text"] == "The answer is 30 days"
