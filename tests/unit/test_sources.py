import io
import tarfile
import zipfile

import pytest

from ragway import sources
from tests.documents import zip_bytes


def make_tree(root):
    for rel in ["a.pdf", "docs/b.md", "docs/deep/c.pdf", "docs/.DS_Store", "__MACOSX/docs/._b.md", "skip/d.txt"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def test_walk_applies_globs_and_drops_junk(tmp_path):
    make_tree(tmp_path)
    names = [name for _, name in sources.walk(tmp_path)]
    assert names == ["a.pdf", "docs/b.md", "docs/deep/c.pdf", "skip/d.txt"]
    assert [n for _, n in sources.walk(tmp_path, include=["**/*.pdf"])] == ["a.pdf", "docs/deep/c.pdf"]
    assert [n for _, n in sources.walk(tmp_path, exclude=["skip/*", "*.md"])] == ["a.pdf", "docs/deep/c.pdf"]


def tar_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def members_of(name: str, data: bytes, max_members: int = 10) -> dict[str, sources.Member]:
    return {m.name: m for m in sources.expand_archive(name, io.BytesIO(data), max_members)}


@pytest.mark.parametrize(("name", "pack"), [("c.zip", zip_bytes), ("c.tar.gz", tar_bytes)])
def test_archives_expand_to_named_members_read_one_at_a_time(name, pack):
    data = pack({"x/one.txt": b"one", "../../etc/passwd": b"just a name", "__MACOSX/x/._one.txt": b"junk"})
    read = {}
    for member in sources.expand_archive(name, io.BytesIO(data), 10):  # each read while the archive is open
        with member.open() as stream:
            read[member.name] = (member.size, stream.read())
    assert read == {"x/one.txt": (3, b"one"), "../../etc/passwd": (11, b"just a name")}


def test_links_in_archives_are_listed_as_refused():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    members = members_of("links.tar", out.getvalue())
    assert members["passwd"].open is None and "link" in members["passwd"].error


class GbkNamedInfo(zipfile.ZipInfo):
    """A member name in GBK without the UTF-8 flag, as Chinese Windows zip tools write it."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits


def test_chinese_names_from_windows_zip_tools_are_decoded():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(GbkNamedInfo("年假制度.txt"), b"data")
    assert set(members_of("gbk.zip", out.getvalue())) == {"年假制度.txt"}


@pytest.mark.parametrize(("name", "reason"), [("a\x00b.txt", "control"), ("\ud800.txt", "Unicode"),
                                              ("x" * 1100, "longer than 1024 bytes")])
def test_names_that_cannot_identify_a_document_are_refused(name, reason):
    assert reason in sources.check_name(name)
    assert sources.check_name("合同/2024 v2.pdf") is None


def test_corrupt_and_oversized_archives_are_refused():
    with pytest.raises(sources.ArchiveError, match="corrupt"):
        members_of("bad.zip", b"PK\x03\x04 not really")
    with pytest.raises(sources.ArchiveError, match="limit is 2"):
        members_of("many.zip", zip_bytes({f"{i}.txt": b"x" for i in range(3)}), max_members=2)
