import io
import tarfile

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


@pytest.mark.parametrize(("name", "pack"), [("c.zip", zip_bytes), ("c.tar.gz", tar_bytes)])
def test_archives_expand_to_named_members_and_refuse_oversized_ones(name, pack):
    data = pack({"x/one.txt": b"one", "../../etc/passwd": b"just a name", "big.txt": b"z" * 100,
                 "__MACOSX/x/._one.txt": b"junk"})
    members = {m.name: m for m in sources.expand_archive(name, data, max_member_bytes=50, max_members=10)}
    assert set(members) == {"x/one.txt", "../../etc/passwd", "big.txt"}
    assert members["x/one.txt"].data == b"one"
    assert members["big.txt"].data is None and "limit" in members["big.txt"].error


def test_corrupt_and_oversized_archives_are_refused():
    with pytest.raises(sources.ArchiveError, match="corrupt"):
        list(sources.expand_archive("bad.zip", b"PK\x03\x04 not really", 100, 10))
    with pytest.raises(sources.ArchiveError, match="limit is 2"):
        list(sources.expand_archive("many.zip", zip_bytes({f"{i}.txt": b"x" for i in range(3)}), 100, 2))
