"""Where a bulk job's files come from: a folder walk with include/exclude globs, or an archive.

Names returned here become source names (document identity), never file-system paths: an
archive member called `../../etc/passwd` is just a name."""

from __future__ import annotations

import fnmatch
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_JUNK_PARTS = {"__MACOSX", ".git", ".svn"}
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
MAX_NAME_BYTES = 1024  # the `source` field of the collection


def is_junk(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    return bool(_JUNK_PARTS.intersection(parts)) or parts[-1] in _JUNK_NAMES or parts[-1].startswith("._")


def matches(relative: str, include: list[str], exclude: list[str]) -> bool:
    """Globs match the posix path relative to the walked folder; `**/` also matches the top level."""
    def hit(patterns: list[str]) -> bool:
        return any(fnmatch.fnmatch(relative, p) or (p.startswith("**/") and fnmatch.fnmatch(relative, p[3:]))
                   for p in patterns)
    return (not include or hit(include)) and not hit(exclude)


def walk(root: Path, include: list[str] | None = None, exclude: list[str] | None = None) -> list[tuple[Path, str]]:
    """(path, name) of every regular file under root, name relative to root, sorted."""
    root = root.resolve()
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        relative = path.relative_to(root).as_posix()
        if not is_junk(relative) and matches(relative, include or [], exclude or []):
            found.append((path, relative))
    return sorted(found, key=lambda item: item[1])


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class Member:
    """A file inside an archive: its size as the archive declares it, and a way to read it
    (None when the member is refused: a link, a bad name)."""

    name: str
    size: int
    packed: int | None  # compressed size, where the format records it per member (zip)
    open: Callable[[], IO[bytes]] | None
    error: str | None = None


class ArchiveError(ValueError):
    pass


READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def expand_archive(name: str, archive: IO[bytes], max_members: int) -> Iterator[Member]:
    """The files inside a zip or tar archive (a seekable file), one at a time, so a caller can
    stream each where it goes; links are listed as refused, junk (macOS forks) left out."""
    try:
        if name.lower().endswith(".zip"):
            yield from _zip_members(archive, max_members)
        else:
            yield from _tar_members(archive, max_members)
    except READ_ERRORS as exc:
        raise ArchiveError(f"{name}: the archive is corrupt or truncated ({exc})") from exc


def check_name(name: str) -> str | None:
    """Why `name` cannot be a source name (it identifies the document and is filtered on), or None."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "the file name holds control characters"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid Unicode"
    if len(encoded) > MAX_NAME_BYTES:
        return f"the file name is longer than {MAX_NAME_BYTES} bytes"
    return None


def _decoded(raw: bytes) -> str:
    """Names stored without an encoding flag: UTF-8, else GB 18030 (Chinese Windows tools write GBK)."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="surrogateescape")  # refused by check_name


def _zip_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800 or info.filename.isascii():  # flagged UTF-8, or plain ASCII
        return info.filename
    return _decoded(info.filename.encode("cp437"))  # zipfile's decoding of unflagged names


def _tar_name(info: tarfile.TarInfo) -> str:
    return _decoded(info.name.encode("utf-8", errors="surrogateescape")).removeprefix("./")


def _counted(members: list, max_members: int) -> list:
    if len(members) > max_members:
        raise ArchiveError(f"{len(members)} files in the archive; the limit is {max_members}")
    return members


def _zip_members(data: IO[bytes], max_members: int) -> Iterator[Member]:
    with zipfile.ZipFile(data) as archive:
        infos = _counted([i for i in archive.infolist() if not i.is_dir() and not is_junk(_zip_name(i))],
                         max_members)
        for info in infos:
            name = _zip_name(info)
            if stat.S_ISLNK(info.external_attr >> 16):
                yield Member(name, 0, None, None, f"{name}: a symbolic link, not ingested")
            else:
                yield Member(name, info.file_size, info.compress_size, lambda i=info: archive.open(i))


def _tar_members(data: IO[bytes], max_members: int) -> Iterator[Member]:
    with tarfile.open(fileobj=data, mode="r:*") as archive:
        infos = _counted([m for m in archive.getmembers() if not m.isdir() and not is_junk(_tar_name(m))],
                         max_members)
        for info in infos:
            name = _tar_name(info)
            if info.isfile():
                yield Member(name, info.size, None, lambda i=info: archive.extractfile(i))
            else:
                kind = "a link" if info.issym() or info.islnk() else "not a regular file"
                yield Member(name, 0, None, None, f"{name}: {kind}, not ingested")
