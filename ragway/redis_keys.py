"""Every Redis key Ragway writes, in one place: an operator (or `redis-cli --scan`) finds what a key
holds here, and no two modules can pick the same name. All start with `PREFIX` and a colon, so
Ragway can share a Redis with other applications. (Celery's broker keys are Celery's own:
`unacked`, `unacked_index` and the queue names, see `ingest_worker/lease.py`.)"""

from __future__ import annotations

PREFIX = "ragway"

# --- access: API keys and limits (ragway/auth.py, ragway/limits.py) ---


def api_key(key_id: str) -> str:
    """Hash: one API key's record (digest, tenant, role, limits, revoked)."""
    return f"{PREFIX}:apikey:{key_id}"


def tenant_api_keys(tenant: str) -> str:
    """Set: the key ids of a tenant."""
    return f"{PREFIX}:tenant:{tenant}:apikeys"


def request_counter(key_id: str, window: int) -> str:
    """Counter with a TTL: a key's requests in one minute window."""
    return f"{PREFIX}:ratelimit:{key_id}:{window}"


def active_jobs(key_id: str) -> str:
    """Set: a key's unfinished jobs (the concurrent-jobs limit)."""
    return f"{PREFIX}:apikey:{key_id}:active_jobs"


# --- knowledge bases and audit (ragway/kbs.py, ragway/audit.py) ---


def tenant_kbs(tenant: str) -> str:
    """Hash: a tenant's knowledge bases, name -> JSON entry."""
    return f"{PREFIX}:tenant:{tenant}:kbs"


def audit_log(tenant: str) -> str:
    """Stream: a tenant's audit events."""
    return f"{PREFIX}:audit:{tenant}"


# --- ingest jobs (ragway/jobs.py, ragway/blob_sweep.py) ---


def job(job_id: str) -> str:
    """Hash: a job's fields and counters."""
    return f"{PREFIX}:job:{job_id}"


def job_files(job_id: str) -> str:
    """Hash: a job's files, file id -> JSON state."""
    return f"{job(job_id)}:files"


def tenant_jobs(tenant: str) -> str:
    """Sorted set: a tenant's job ids by creation time."""
    return f"{PREFIX}:jobs:{tenant}"


INGEST_STATS = f"{PREFIX}:stats"  # hash: process-wide ingest counters (Prometheus)
BLOB_SWEEP_LOCK = f"{PREFIX}:blob-sweep"  # lock: one gateway sweeps stale uploads at a time


# --- read-your-writes (ragway/freshness.py) ---


def kb_writes(collection: str) -> str:
    """Sorted set: each tenant/kb of a collection scored by its last write (epoch ms)."""
    return f"{PREFIX}:kb_writes:{collection}"


def kb_strong_window(collection: str, tenant: str, kb: str) -> str:
    """Key with a TTL: searches of this kb read Strong until it expires (after a delete)."""
    return f"{PREFIX}:kb_strong:{collection}:{tenant}/{kb}"
