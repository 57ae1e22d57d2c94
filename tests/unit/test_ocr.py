"""ragway.ocr with the real engine (RapidOCR's PP-OCRv6 ONNX models): no fakes."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw, ImageFont

from ragway import ocr
from ragway.llm_model import ModelIntegrityError
from ragway.settings import Settings
from tests.data import require

pytest.importorskip("rapidocr", reason="rapidocr is not installed (pip install rapidocr==3.10.0)")

FONT_CANDIDATES = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    *Path(ImageFont.__file__).parents[1].glob("matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf"),
]
LINES = ["Invoices are paid within 30 days.", "Travel needs approval first."]


def font(size: int) -> ImageFont.FreeTypeFont:
    for path in FONT_CANDIDATES:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    pytest.skip("no DejaVuSans.ttf on this machine (fonts-dejavu-core or matplotlib)")


def text_image(lines: list[str], size: int = 28) -> Image.Image:
    image = Image.new("RGB", (40 + 20 * size, 30 + len(lines) * 2 * size), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((20, 15 + i * 2 * size), line, fill="black", font=font(size))
    return image


def encode(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


def squash(text: str) -> str:
    """The characters without spaces: PP-OCRv6 now and then drops the space between two English words
    ("paidwithin"), depending on the text's size in pixels; every character must still be right."""
    return "".join(text.split())


@pytest.fixture(scope="module", autouse=True)
def warm_engine():
    ocr.engine()  # created once for the module (~3-7 s): the cases below time only their reading


def test_english_image_lines_in_reading_order():
    text = ocr.read_image(encode(text_image(LINES), "PNG"))
    lines = text.splitlines()
    assert len(lines) == 2, text
    for got, want in zip(lines, LINES, strict=True):
        assert squash(got) == squash(want)
    assert len(text.split()) >= len(" ".join(LINES).split()) - 1  # words are still mostly apart


@pytest.mark.parametrize("kind", ["JPEG", "TIFF", "BMP", "WEBP", "GIF"])
def test_other_image_formats(kind):
    text = ocr.read_image(encode(text_image(LINES[:1]), kind))
    assert squash(text) == squash(LINES[0])


def test_chinese_image_without_spaces_between_characters():
    # No CJK font on the machine to draw one: a real image from the shared data (横向/竖向 text boxes).
    data = require("docs/chatchat-zh/ocr_test.jpg").read_bytes()
    lines = ocr.read_image(data).splitlines()
    assert "横向文本框" in lines
    assert "English text" in lines
    assert lines.index("横向文本框") < lines.index("English text")


def test_pdf_page_without_text_layer():
    blank = Image.new("RGB", (1240, 300), "white")
    page = text_image(LINES)
    blank.paste(page, (60, 60))
    buffer = io.BytesIO()
    blank.save(buffer, "PDF", resolution=150)
    data = buffer.getvalue()
    pdf = pdfium.PdfDocument(data)
    assert pdf[0].get_textpage().get_text_range().strip() == ""  # an image only
    pdf.close()

    texts = ocr.read_pdf_pages(data, [0])
    assert list(texts) == [0]
    assert [squash(line) for line in texts[0].splitlines()] == [squash(line) for line in LINES]
    with pytest.raises(IndexError, match="out of range"):
        ocr.read_pdf_pages(data, [1])


def test_tampered_model_file_is_refused(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ocr.model_dir(), models)
    assert set(ocr.verify_models(models)) == {"det", "cls", "rec"}
    rec = models / ocr.MODEL_FILES["rec"][0]
    raw = bytearray(rec.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    rec.write_bytes(bytes(raw))
    with pytest.raises(ModelIntegrityError, match="refusing to load OCR model .*PP-OCRv6_rec_small.onnx.*sha256"):
        ocr.verify_models(models)


def test_engine_is_not_created_from_a_file_off_its_pin(monkeypatch):
    name, _ = ocr.MODEL_FILES["det"]
    monkeypatch.setattr(ocr, "MODEL_FILES", {**ocr.MODEL_FILES, "det": (name, "0" * 64)})
    monkeypatch.setattr(ocr, "_engine", None)  # restored to the warm engine afterwards
    with pytest.raises(ModelIntegrityError, match="expected 0000"):
        ocr.read_image(encode(text_image(LINES[:1]), "PNG"))
    assert ocr._engine is None


@pytest.mark.parametrize("data", [b"", b"this is not an image", encode(text_image(LINES[:1]), "PNG")[:200]],
                         ids=["empty", "text", "truncated-png"])
def test_undecodable_image_raises_ocr_error(data):
    with pytest.raises(ocr.OcrError) as error:
        ocr.read_image(data)
    assert error.value.reason


def test_heic_without_a_decoder_names_the_package(monkeypatch):
    monkeypatch.setattr(ocr, "_register_heif", lambda: False)
    with pytest.raises(ocr.OcrError, match="pillow-heif"):
        ocr.read_image(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")


def test_unreadable_pdf_raises_ocr_error():
    with pytest.raises(ocr.OcrError, match="PDF"):
        ocr.read_pdf_pages(b"%PDF-1.7 but nothing else", [0])


def test_ocr_enabled_follows_the_setting():
    assert ocr.ocr_enabled(Settings(_env_file=None, ocr_enabled=True))
    assert not ocr.ocr_enabled(Settings(_env_file=None, ocr_enabled=False))


def test_lines_group_by_row_and_join_chinese_without_spaces():
    pieces = [ocr._Piece("world", 10, 30, 200), ocr._Piece("second", 50, 70, 10),
              ocr._Piece("hello", 12, 31, 10), ocr._Piece("中文", 90, 110, 10), ocr._Piece("文本", 91, 111, 80)]
    assert ocr._lines(pieces) == ["hello world", "second", "中文文本"]
    assert ocr._clean(" 横 向 文本框 English text ") == "横向文本框 English text"


def test_picture_only_slides_are_read_by_ocr_on_their_slide():
    import pptx
    from pptx.util import Inches

    from ragway import loader

    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])  # an empty slide first
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    picture = io.BytesIO(encode(text_image(["Quarterly revenue rose 42 percent"]), "PNG"))
    slide.shapes.add_picture(picture, Inches(1), Inches(1))
    logo = deck.slides.add_slide(deck.slide_layouts[6])  # a picture without text adds nothing
    logo.shapes.add_picture(io.BytesIO(encode(Image.new("RGB", (200, 200), "navy"), "PNG")), Inches(1), Inches(1))
    out = io.BytesIO()
    deck.save(out)
    [section] = loader.load("screenshots.pptx", out.getvalue())
    assert section.page == 2
    assert squash(section.text) == squash("Quarterly revenue rose 42 percent")
