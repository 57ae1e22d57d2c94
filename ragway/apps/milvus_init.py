"""One-shot set-up of a Milvus server with authentication on (docker-compose's `milvus-init`).

A new Milvus creates the user `root` with the well-known password `Milvus`. When
`RAGWAY_MILVUS_TOKEN` is `root:<password>` and that password does not log in yet, this changes
root's password from the default to it, so the server never runs with the default one for long.
It does nothing when the token already works or is empty (authentication off), so running it on
every `docker compose up` is safe."""

from __future__ import annotations

import sys
import time

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from ragway.settings import Settings, get_settings

DEFAULT_ROOT_PASSWORD = "Milvus"


def _connects(uri: str, token: str) -> bool:
    try:
        client = MilvusClient(uri=uri, token=token, timeout=10)
        client.list_collections()
        client.close()
        return True
    except MilvusException:
        return False


def init(s: Settings, attempts: int = 30, wait_s: float = 2.0) -> str:
    if not s.milvus_token:
        return "no RAGWAY_MILVUS_TOKEN: nothing to set up (authentication off)"
    user, _, password = s.milvus_token.partition(":")
    for _ in range(attempts):
        if _connects(s.milvus_uri, s.milvus_token):
            return f"Milvus user {user} logs in"
        if user == "root" and _connects(s.milvus_uri, f"root:{DEFAULT_ROOT_PASSWORD}"):
            client = MilvusClient(uri=s.milvus_uri, token=f"root:{DEFAULT_ROOT_PASSWORD}", timeout=10)
            client.update_password("root", DEFAULT_ROOT_PASSWORD, password)
            client.close()
            return "changed the Milvus root password from the default to the one in RAGWAY_MILVUS_TOKEN"
        time.sleep(wait_s)  # not up yet, or a password change still propagating
    raise SystemExit(f"cannot log in to {s.milvus_uri} as {user!r} with RAGWAY_MILVUS_TOKEN, nor as root with the "
                     "default password: fix the token (user:password) or create the user in Attu")


def main() -> None:
    print(init(get_settings()), file=sys.stderr)


if __name__ == "__main__":
    main()
