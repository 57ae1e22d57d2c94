"""Where a bulk job's files come from: a folder walk with include/exclude globs, or an archive.

Names returned here become source names (document identity), never file-system paths: an
archive member called `../../etc/passwd` is just a name."""

from __future__ import annotations

import fnmatch
import io
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_JUNK_PARTS = {"__MACOSX", ".git", ".svn"}
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


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
    name: str
    data: bytes | None      # None when the member was refused
    error: str | None = None


class ArchiveError(ValueError):
    pass


def expand_archive(name: str, data: bytes, max_member_bytes: int, max_members: int) -> Iterator[Member]:
    """The files inside a zip or tar archive; oversized members are refused one by one."""
    try:
        if name.lower().endswith(".zip"):
            yield from _zip_members(data, max_member_bytes, max_members)
        else:
            yield from _tar_members(data, max_member_bytes, max_members)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{name}: the archive is corrupt or truncated ({exc})") from exc


def _refuse_or_read(member_name: str, size: int, limit: int, read) -> Member:
    if size > limit:
        return Member(member_name, None, f"{member_name}: larger than the {limit // (1024 * 1024)} MiB limit per file")
    return Member(member_name, read())


def _zip_members(data: bytes, limit: int, max_members: int) -> Iterator[Member]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not is_junk(i.filename)]
        if len(infos) > max_members:
            raise ArchiveError(f"{len(infos)} files in the archive; the limit is {max_members}")
        for info in infos:
            yield _refuse_or_read(info.filename, info.file_size, limit, lambda i=info: archive.read(i))


def _tar_members(data: bytes, limit: int, max_members: int) -> Iterator[Member]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        infos = [m for m in archive.getmembers() if m.isfile() and not is_junk(m.name)]
        if len(infos) > max_members:
            raise ArchiveError(f"{len(infos)} files in the archive; the limit is {max_members}")
        for info in infos:
            yield _refuse_or_read(info.name.removeprefix("./"), info.size, limit,
                                  lambda i=info: archive.extractfile(i).read())
