"""Redis authentication: the local stack's generated password and the URL every client connects with.

The local stack generates a password into the state folder on its first `stack up` (a file only
its owner reads) and starts Redis with it from a config file of the same mode, so the password
never shows on a process command line. Clients take `Settings.effective_redis_url`: `redis_url`
with `redis_password`, else with the password the URL holds already, else with the local stack's."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from ragway.settings import Settings

PASSWORD_FILE = "redis.password"
CONFIG_FILE = "redis-auth.conf"


def password_file(state_dir: Path) -> Path:
    return state_dir / PASSWORD_FILE


def read_secret(path: Path) -> str | None:
    """The secret in `path`, or None when there is none (yet)."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only from the first byte on (no window in
    which another user could open it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def ensure_secret(path: Path) -> str:
    """The secret in `path`, generated on first use. Two concurrent callers get the same one:
    the file appears complete (a hard link to a written file) or not at all."""
    found = read_secret(path)
    if found:
        return found
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    write_private(tmp, token + "\n")
    try:
        os.link(tmp, path)
        return token
    except FileExistsError:  # another `stack up` won the race: use its secret (an empty file: replace it)
        found = read_secret(path)
        if found:
            return found
        os.replace(tmp, path)
        return token
    finally:
        tmp.unlink(missing_ok=True)


def url_password(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return dict(parse_qsl(parts.query)).get("password") or None
    return unquote(parts.password) if parts.password else None


def with_password(url: str, password: str) -> str:
    """`url` authenticating with `password` (its user name, if any, kept)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return _unix_url(parts.path, {**dict(parse_qsl(parts.query)), "password": password})
    user = parts.username or ""  # still quoted
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def client_url(s: Settings) -> str:
    """The URL clients connect with (`Settings.effective_redis_url`)."""
    password = s.redis_password or url_password(s.redis_url) or read_secret(password_file(s.state_dir))
    return with_password(s.redis_url, password) if password else s.redis_url


def server_password(s: Settings) -> str:
    """The password the local stack's Redis requires: the configured one, else the generated one."""
    return s.redis_password or url_password(s.redis_url) or ensure_secret(password_file(s.state_dir))


def write_server_config(s: Settings) -> Path:
    """A redis.conf (mode 0600) holding only `requirepass`; the other options stay on the command line."""
    escaped = server_password(s).replace("\\", "\\\\").replace('"', '\\"')
    path = s.state_dir.resolve() / CONFIG_FILE
    write_private(path, f'requirepass "{escaped}"\n')
    return path


def _unix_url(path: str, query: dict[str, str]) -> str:
    return f"unix://{path}?{urlencode(query, quote_via=quote)}" if query else f"unix://{path}"


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return _unix_url(parts.path, {k: v for k, v in parse_qsl(parts.query) if k != "password"})
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _serves(url: str) -> bool | None:
    """Whether Redis answers a client of `url`: None when it cannot be reached."""
    import redis

    with contextlib.closing(redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)) as client:
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
        except redis.RedisError:
            return None


def guarded_by(url: str) -> bool:
    """Whether Redis at `url` refuses clients without a password and accepts the one in `url`.
    (A Redis without a password also answers clients that send one.) True when it cannot be
    reached: there is nothing to conclude."""
    anonymous, authenticated = _serves(without_password(url)), _serves(url)
    if anonymous is None or authenticated is None:
        return True
    return authenticated and not anonymous
