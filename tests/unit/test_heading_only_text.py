"""A Chinese .txt whose every line unstructured calls a Title (CJK has no spaces, so each line is
"short") is one run of headings without body: its chunks hold each line once, in order, under the
file's first line, not under its last one repeated in front."""

import pytest

from ragway import loader
from ragway.settings import Settings
from ragway.splitter import Splitter

LINES = ["公司差旅报销制度", "员工出差前应当在系统中提交出差申请", "出差结束后十个工作日内提交报销单", "谢谢合作"]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_each_paragraph_of_a_chinese_txt_is_in_its_chunk_once_in_order(tmp_path, encoding):
    path = tmp_path / "policy.txt"
    path.write_bytes(("\n".join(LINES) + "\n").encode(encoding))
    sections = loader.load(path.name, path.read_bytes())
    [piece] = Splitter(Settings(chunk_size=500, chunk_overlap=0)).split(sections)
    assert [line for line in piece.text.splitlines() if line] == LINES
    assert piece.title == LINES[0]


def test_stacked_headings_before_a_body_keep_the_innermost_as_title():
    md = b"# Travel policy\n\n## Hotels\n\nHotel rooms up to 150 EUR a night.\n"
    [section] = loader.load("p.md", md)
    assert (section.title, section.text) == ("Hotels", "Travel policy\n\nHotels\n\nHotel rooms up to 150 EUR a night.")
