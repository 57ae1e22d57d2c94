"""Rebuild the chunk collection on the current schema behind a Milvus alias (`ragway kb reindex`).

The name services are configured with (`RAGWAY_COLLECTION`, e.g. `ragway_chunks`) becomes an **alias**
of a physical collection `<name>_v<schema>_<UTC yyyymmddHHMMSS>`. A rebuild:

1. creates the new physical collection with the current schema and index (`ChunkStore.ensure_collection`);
2. copies every row in batches (`query_iterator`), keeping the stored vectors, or re-embedding each
   chunk's text (its context first when `RAGWAY_EMBED_CHUNK_CONTEXT`, as ingestion does) when asked
   (`--re-embed`) or when the collection records another embedding model than the settings name;
3. verifies: the new collection holds exactly the rows copied, and the source still holds the rows it
   held when the copy began (count and an order-free hash of every (chunk_id, content_hash, created_at));
   if anything differs the new collection is dropped and nothing is flipped;
4. flushes the new collection and waits (bounded) for its HNSW index to cover every row;
5. flips the alias in one metadata call (`alter_alias`): a search sees the old rows or the new ones;
6. keeps the previous collection (released from memory) until `--drop-old`.

**First migration of a plain collection.** Milvus refuses an alias named like an existing collection, so
after steps 1-4 the old collection is *renamed* to `<name>_v<old>_<stamp>` and the alias `<name>` is
created at once (Milvus 2.3.5 and milvus-lite 3.2.2 both rename; 2.3.5 keeps the renamed collection
loaded). Between those two calls (two metadata RPCs, milliseconds) the name resolves to nothing: a
search or write in that window fails as "collection not found", which the gateway answers 503 and the
worker retries, and nothing is lost or half-copied. Dropping the old collection first instead would
leave a longer window and no way back. If the alias cannot be created the rename is undone.

**Writes during the rebuild.** Run it with ingestion paused (stop the ingest worker; do not delete
documents meanwhile). A write to the source during the copy is detected at step 3 and the rebuild is
refused; one landing between that check and the flip (a few ms) is reported afterwards
(`changed_after_flip`: the old collection is then kept even with `--drop-old`, re-ingest those files).

**After the flip**, restart the gateway and the ingest worker when the embedding model, dimension or the
set of fields changed (their clients cache the old schema and embedder); a field-order-only upgrade (v1 ->
v2) works without a restart: pymilvus sends rows by field name.

milvus-lite keeps no descriptions, so there every collection reads as schema v1 and each run rebuilds.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from ragway.embedder import Embedder, embed_chunks
from ragway.errors import RagwayError
from ragway.records import Chunk, indexed_text
from ragway.settings import Settings
from ragway.store import INDEXED_TEXT_FIELD, SCHEMA_VERSION, SPARSE_FIELD, ChunkStore

log = logging.getLogger(__name__)

KEY_FIELDS = ["chunk_id", "content_hash", "created_at"]  # what the copy check compares, row by row
INSERT_ROWS = 512  # rows per insert call, as ingestion writes them (ragway/ingest.py UPSERT_BATCH)
INDEX_WAIT_S = 600.0


class ReindexError(RagwayError):
    code = "reindex_failed"


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


@dataclass
class Plan:
    name: str  # the configured name: an alias after the first rebuild
    source: str  # the physical collection read
    aliased: bool
    version: int  # the source's schema version
    model: str | None  # the embedding model the source records (None: not recorded)
    dim: int  # the source's vector dimension
    rows: int
    re_embed: bool
    needed: bool
    reason: str


@dataclass
class Result:
    plan: Plan
    target: str = ""
    previous: str = ""  # the collection the name pointed at before (kept unless dropped)
    copied: int = 0
    index_ready: bool = True
    changed_after_flip: bool = False  # the previous collection changed (or could not be read) after the check
    new_fields: list[str] = field(default_factory=list)  # fields the target has and the source had not
    dropped: list[str] = field(default_factory=list)

    @property
    def restart_services(self) -> bool:
        """Whether running gateways and workers must restart (their cached schema or embedder is stale)."""
        return bool(self.target) and (self.plan.re_embed or bool(self.new_fields))


@dataclass
class Fingerprint:
    """Row count and an order-free hash of the rows' keys: equal for the same set of rows."""

    rows: int = 0
    digest: int = 0

    def add(self, row: dict[str, Any]) -> None:
        key = "\x1f".join(str(row[k]) for k in KEY_FIELDS).encode("utf-8")
        self.rows += 1
        self.digest = (self.digest + int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")) % 2**64


def resolve(client: MilvusClient, name: str) -> tuple[str, bool]:
    """(physical collection, whether `name` is an alias); ReindexError if the name is neither."""
    if name in (client.list_aliases().get("aliases") or []):
        return client.describe_alias(name)["collection_name"], True
    if client.has_collection(name):
        return name, False
    raise ReindexError(f"no collection or alias named {name!r}: nothing to rebuild")


def former_versions(client: MilvusClient, name: str) -> list[str]:
    """Physical collections of `name` made by rebuilds that the alias no longer points at (previous
    versions, or what an interrupted rebuild left)."""
    current = resolve(client, name)[0] if _exists(client, name) else ""
    pattern = re.compile(rf"{re.escape(name)}_v\d+_\d{{14}}")
    return sorted(c for c in client.list_collections() if pattern.fullmatch(c) and c != current)


def drop_former_versions(client: MilvusClient, name: str) -> list[str]:
    dropped = former_versions(client, name)
    for old in dropped:
        client.drop_collection(old)
        log.info("dropped %s (a former version of %s)", old, name)
    return dropped


def plan(settings: Settings, client: MilvusClient, name: str, re_embed: bool = False, force: bool = False,
         current_dim: Callable[[], int] | None = None) -> Plan:
    """What a rebuild of `name` would do, and whether one is needed.

    Needed: an older schema, `re_embed`, `force`, or vectors of another model than the settings name
    (recorded model differs; or none recorded and `current_dim()` differs from the stored dimension)."""
    source, aliased = resolve(client, name)
    reader = ChunkStore(settings.model_copy(update={"collection": source}), dim=0, client=client)
    version = reader.schema_version()
    recorded = reader.recorded_embedding_model()
    dim = _vector_dim(client, source)
    rows = _count(client, source)
    model = recorded[0] if recorded else None
    reasons = []
    if version < SCHEMA_VERSION:
        reasons.append(f"schema v{version} -> v{SCHEMA_VERSION}")
    elif version > SCHEMA_VERSION:
        raise ReindexError(f"{source!r} has schema v{version}, newer than this code's v{SCHEMA_VERSION}: "
                           "upgrade Ragway instead")
    other_model = model is not None and model != settings.embedding_model_id
    if model is None and current_dim is not None and current_dim() != dim:
        other_model = True
    if other_model:
        reasons.append(f"vectors of {model or 'another model'} ({dim} dims) -> {settings.embedding_model_id}")
    if re_embed and not other_model:
        reasons.append("re-embedding asked")
    if force and not reasons:
        reasons.append("rebuild forced")
    return Plan(name=name, source=source, aliased=aliased, version=version, model=model, dim=dim, rows=rows,
                re_embed=re_embed or other_model, needed=bool(reasons),
                reason="; ".join(reasons) or f"already schema v{version} with {model or 'unrecorded'} vectors")


def rebuild(settings: Settings, client: MilvusClient, p: Plan, batch: int = 1000,
            embedder: Callable[[], Embedder] | None = None, progress: Progress | None = None,
            drop_old: bool = False, clock: Callable[[], float] = time.time,
            index_wait_s: float = INDEX_WAIT_S) -> Result:
    """Copy `p.source` into a new collection on the current schema, verify, flip `p.name` to it."""
    if not p.needed:
        return Result(plan=p, dropped=drop_former_versions(client, p.name) if drop_old else [])
    model = embedder() if p.re_embed else None
    if p.re_embed and model is None:
        raise ReindexError("re-embedding needs an embedder")
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(clock()))
    target = f"{p.name}_v{SCHEMA_VERSION}_{stamp}"
    if _exists(client, target):
        raise ReindexError(f"{target!r} exists already; run it again in a second")
    result = Result(plan=p, target=target)
    writer = ChunkStore(settings.model_copy(update={"collection": target}),
                        dim=model.dim if model else p.dim, client=client)
    client.load_collection(p.source)  # milvus-lite: a reopened (or renamed) collection needs loading
    before = _fingerprint(client, p.source, batch)
    try:
        writer.ensure_collection()
        result.new_fields = sorted(_field_names(client, target) - _field_names(client, p.source))
        copied = _copy(client, p.source, writer, settings, model, batch, progress, total=before.rows)
        client.flush(target)
        after, written = _fingerprint(client, p.source, batch), _fingerprint(client, target, batch)
        if after != before:
            raise ReindexError(f"{p.source!r} changed during the copy ({before.rows} rows before, {after.rows} "
                               "after, or other rows): pause ingestion (stop the ingest worker, no deletes) and "
                               "run it again")
        if (written != copied) or (written != before):
            raise ReindexError(f"the copy in {target!r} does not match {p.source!r} ({written.rows} of "
                               f"{before.rows} rows): not switched")
        result.copied = written.rows
        result.index_ready = writer.settle(index_wait_s)
        if not result.index_ready:
            log.warning("index of %s still lags after %.0f s: switching anyway (searches stay exact)",
                        target, index_wait_s)
        result.previous = _flip(client, p, target, stamp)
    except BaseException:
        if not result.previous:  # not flipped: the half-made collection goes
            try:
                client.drop_collection(target)
            except MilvusException:
                log.exception("could not drop %s (ragway kb reindex --drop-old drops it later)", target)
        raise
    # A write that landed between the check and the flip is in the previous collection only.
    try:
        client.load_collection(result.previous)
        result.changed_after_flip = _fingerprint(client, result.previous, batch) != before
        client.release_collection(result.previous)  # kept for a way back, not in memory
    except MilvusException as exc:
        log.warning("switched to %s, but %s could not be checked again: %s", target, result.previous, exc)
        result.changed_after_flip = True
    if drop_old and not result.changed_after_flip:
        result.dropped = drop_former_versions(client, p.name)
    return result


# --- steps ---------------------------------------------------------------------------------------------

def _copy(client: MilvusClient, source: str, writer: ChunkStore, settings: Settings, model: Embedder | None,
          batch: int, progress: Progress | None, total: int) -> Fingerprint:
    skipped = {SPARSE_FIELD, INDEXED_TEXT_FIELD} | ({"embedding"} if model is not None else set())
    fields = [f["name"] for f in client.describe_collection(source)["fields"] if f["name"] not in skipped]
    if progress:
        progress.start(total)
    copied = Fingerprint()
    for rows in _batches(client, source, fields, batch):
        chunks = [_chunk(r) for r in rows]
        if model is not None:
            texts = [indexed_text(c.text, c.metadata) if settings.embed_chunk_context else c.text for c in chunks]
            for c, vector in zip(chunks, embed_chunks(model, texts, [c.text for c in chunks]), strict=True):
                c.embedding = vector
        for start in range(0, len(chunks), INSERT_ROWS):
            client.insert(writer.collection, data=[writer._row(c) for c in chunks[start:start + INSERT_ROWS]])
        for r in rows:
            copied.add(r)
        if progress:
            progress.advance(len(rows))
    return copied


def _chunk(r: dict[str, Any]) -> Chunk:
    return Chunk(chunk_id=r["chunk_id"], tenant=r["tenant"], kb=r["kb"], doc_id=r["doc_id"], source=r["source"],
                 page=int(r["page"]), chunk_index=int(r["chunk_index"]), content_hash=r["content_hash"],
                 text=r["text"], created_at=int(r["created_at"]), metadata=dict(r.get("metadata") or {}),
                 embedding=[float(x) for x in r["embedding"]] if "embedding" in r else None)


def _flip(client: MilvusClient, p: Plan, target: str, stamp: str) -> str:
    """Point `p.name` at `target`; returns the collection it pointed at before."""
    if p.aliased:
        client.alter_alias(target, p.name)
        return p.source
    kept = f"{p.name}_v{p.version}_{stamp}"
    client.rename_collection(p.name, kept)
    try:
        client.create_alias(target, p.name)
    except MilvusException as exc:
        try:
            client.rename_collection(kept, p.name)
            client.load_collection(p.name)
        except MilvusException:
            log.exception("could not rename %s back to %s", kept, p.name)
        raise ReindexError(f"could not create the alias {p.name!r} (did a service create the collection "
                           f"meanwhile?); the old rows are in {kept!r} or {p.name!r}: {exc}") from exc
    return kept


def _batches(client: MilvusClient, collection: str, fields: list[str], batch: int) -> Iterator[list[dict]]:
    it = client.query_iterator(collection, batch_size=batch, filter="", output_fields=fields,
                               consistency_level="Strong")
    try:
        while rows := it.next():
            yield rows
    finally:
        it.close()


def _fingerprint(client: MilvusClient, collection: str, batch: int) -> Fingerprint:
    fp = Fingerprint()
    for rows in _batches(client, collection, KEY_FIELDS, max(batch, 5000)):
        for r in rows:
            fp.add(r)
    return fp


def _count(client: MilvusClient, collection: str) -> int:
    rows = client.query(collection, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"]) if rows else 0


def _field_names(client: MilvusClient, collection: str) -> set[str]:
    return {f["name"] for f in client.describe_collection(collection)["fields"]}


def _vector_dim(client: MilvusClient, collection: str) -> int:
    for f in client.describe_collection(collection)["fields"]:
        if f["name"] == "embedding":
            return int((f.get("params") or {}).get("dim", 0))
    raise ReindexError(f"{collection!r} has no `embedding` field: not a Ragway collection")


def _exists(client: MilvusClient, name: str) -> bool:
    return name in (client.list_aliases().get("aliases") or []) or client.has_collection(name)
