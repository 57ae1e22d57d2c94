"""The embedded Milvus 2.3.5 server (PyPI `milvus`), started the way the local stack needs it.

Two fixes over the package's own `milvus-server` command:
- It picks each port by test-binding it without SO_REUSEADDR, so after a restart the proxy port
  still holding TIME_WAIT sockets looks taken and the server silently moves to the next port.
  The test bind here allows address reuse, as the server itself does.
- Every component registers in etcd, and dials the others, at 127.0.0.1 rather than the
  machine's first address, so a changed or missing network address does not strand the data.
Usage: the same flags as `milvus-server` (`--data DIR --proxy-port N --extra-config k=v`)."""

from __future__ import annotations

import socket
import sys

import milvus

COMPONENTS = ["rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode"]


def _try_bind_port_reusable(self, port: int):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None


def main(argv: list[str] | None = None) -> None:
    milvus.MilvusServerConfig.try_bind_port = _try_bind_port_reusable
    args = list(sys.argv[1:] if argv is None else argv)
    for component in COMPONENTS:
        args += ["--extra-config", f"{component}.ip=127.0.0.1"]
    sys.argv = [sys.argv[0], *args]
    milvus.main()


if __name__ == "__main__":
    main()
