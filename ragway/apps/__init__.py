"""Applications built on the core: the `ragway` CLI and its HTTP client, the local stack, retrieval
evaluation, and the launchers of Milvus and FastChat's processes.

The core (every other module of `ragway`), the gateway (`api`) and the ingest worker
(`ingest_worker`) never import this package; pyproject's import contracts check it in CI."""
