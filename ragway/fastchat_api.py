"""FastChat's openai_api_server, with its streaming fixed for pydantic 2.

fschat 0.2.36 serialises stream chunks with `chunk.json(..., ensure_ascii=False)`, which pydantic 2
rejects, so `stream: true` returned an empty body. The stream response models get a pydantic-2
`json` here; everything else is FastChat's own server. Usage: the same flags as
`python -m fastchat.serve.openai_api_server`."""

from __future__ import annotations

from typing import Any

import uvicorn
from fastchat.protocol import openai_api_protocol as protocol
from fastchat.serve import openai_api_server as server


def _json_pydantic2(self, **kwargs: Any) -> str:
    kwargs.pop("ensure_ascii", None)  # model_dump_json never escapes non-ASCII text
    return self.model_dump_json(**kwargs)


def patch_stream_serialisation() -> None:
    for model in (protocol.ChatCompletionStreamResponse, protocol.CompletionStreamResponse):
        model.json = _json_pydantic2


def main() -> None:
    patch_stream_serialisation()
    args = server.create_openai_api_server()
    uvicorn.run(server.app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
