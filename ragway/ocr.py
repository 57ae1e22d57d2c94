"""OCR for images and for PDF pages without a text layer: English and Chinese, offline.

The engine is RapidOCR (`rapidocr==3.10.0`, pinned): PP-OCRv6 detection and recognition and a
text-orientation classifier, as ONNX files inside the wheel, run by ONNX Runtime. The three files
are checked against pinned sha256s before the engine first loads them (a mismatch raises
`ModelIntegrityError`), and they are handed to RapidOCR by path, so it never reaches for its
download URLs. One engine per process, created on first use under a lock, with ONNX Runtime
limited to the cores this process may use; calls are serialised (each already uses every core).

- `ocr_enabled(settings)`: the `ocr_enabled` setting, and the engine installed.
- `read_image(data)`: PNG, JPEG, TIFF (every page), BMP, WEBP, GIF (first frame), HEIC/HEIF where
  pillow-heif (or pi-heif) is installed. Lines top to bottom, pieces of one line left to right; no
  spaces between Chinese characters.
- `read_pdf_pages(data, pages, scale)`: pages rendered by pypdfium2 (no poppler), then read.

`OcrError` is this file's problem (undecodable, encrypted, not an image): the loader reports it on
the file. `ModelIntegrityError` / `ModelMissingError` are the deployment's and should fail loudly.

Measured 2026-11-27 on the 2-core dev machine while other sessions' tests shared it (load average
4.6-7.6 on 2 cores: upper bounds; a quiet machine should be ~2-3x faster). Recognition is ~85% of the
time (a dense page: detection ~3 s, recognition ~10-13 s of CPU), so cost follows the text's amount:
- engine start (import, sha256 of the 31 MB of models, 3 ONNX sessions): 2.3-3.9 s, once per process.
- images of ../shared/data/docs: 2.3 s (ocr_test.jpg, 3 short lines), 5.7 s (chi_sim_image, 5
  Chinese lines), 6.4 s (english-and-korean, 544 chars), 14 s (layout-parser-paper-fast, 2,240 chars),
  24 s (DA-1p.png, a dense A4 page, 2,689 chars).
- scanned PDF pages at the default scale 2.0 (144 dpi, A4 = 1190x1684 px): 8 s (a table) to 21-24 s
  (dense text); 0.051 pages/s through read_pdf_pages over 6 pages, render ~0.05 s of it.
- raw engine on the same 6 pre-rendered page images: 0.058 pages/s (17.1 s per page): the baseline for
  "OCR'd pages/s >= 0.8x raw" (read_pdf_pages reached 0.88x in this one noisy run).
- scale, against the text layer of OCR'd PDFs (rapidfuzz ratio, spaces ignored): pdf-with-ocr-text
  57.8 / 76.2 / 78.9 / 78.9 at scale 1.0 / 1.5 / 2.0 / 3.0; Seige_of_Vicksburg 98.7 / 99.2 / 99.1 / 96.3.
  1.0 loses small print, 3.0 gains nothing and costs more: 2.0.
- PP-OCRv6 now and then drops a space between two English words ("paidwithin"), depending on the
  text's size in pixels; characters are right.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from ragway.llm_model import ModelIntegrityError, ModelMissingError, file_sha256
from ragway.settings import usable_cpus
from ragway.timing import phase

log = logging.getLogger(__name__)

RAPIDOCR_VERSION = "3.10.0"
INSTALL_HINT = f"pip install rapidocr=={RAPIDOCR_VERSION} (a dependency of ragway)"

# The ONNX files RapidOCR 3.10.0's defaults load (Det/Rec: PP-OCRv6 small, multilingual incl. ch/en;
# Cls: ch_ppocr_mobile v2.0), as shipped in its wheel's `rapidocr/models/`. The hashes equal the
# SHA256 entries of the wheel's own default_models.yaml.
MODEL_FILES: dict[str, tuple[str, str]] = {
    "det": ("PP-OCRv6_det_small.onnx", "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"),
    "cls": ("ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
    "rec": ("PP-OCRv6_rec_small.onnx", "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"),
}

# PDF points (1/72 in) to pixels: 2.0 = 144 dpi, an A4 page 1190x1684 px (see the module docstring).
DEFAULT_PDF_SCALE = 2.0
# A page is never rendered larger than this on its longest side (RapidOCR shrinks past 2000 anyway):
# a poster-sized page would otherwise take hundreds of MB.
MAX_RENDER_SIDE = 2400
MAX_TIFF_PAGES = 500


class OcrError(Exception):
    """The input cannot be read as an image or PDF page: `reason` says why, for people."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def ocr_enabled(settings) -> bool:
    """OCR runs when the `ocr_enabled` setting is on and the engine is installed (a missing engine
    is logged once; its files are hash-checked when it first loads)."""
    if not getattr(settings, "ocr_enabled", True):
        return False
    if importlib.util.find_spec("rapidocr") is None:
        _warn_missing_once()
        return False
    return True


# --- the engine ---------------------------------------------------------------------------------
_warned_missing = False
_engine = None
_engine_lock = threading.Lock()  # creation
_run_lock = threading.RLock()  # one OCR call at a time: each uses every core; pdfium is not thread-safe


def _warn_missing_once() -> None:
    global _warned_missing
    if not _warned_missing:
        _warned_missing = True
        log.warning("OCR is on but rapidocr is not installed (%s): images and scanned pages cannot be read",
                    INSTALL_HINT)


def model_dir() -> Path:
    """`rapidocr/models/` of the installed wheel."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"the OCR engine is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def verify_models(directory: Path | None = None, expected: dict[str, tuple[str, str]] | None = None) -> dict[str, Path]:
    """The model files by role, each checked against its pinned sha256 (~0.1 s for the 31 MB)."""
    directory = model_dir() if directory is None else Path(directory)
    paths = {}
    for role, (name, sha256) in (expected or MODEL_FILES).items():
        path = directory / name
        if not path.is_file():
            raise ModelMissingError(f"OCR model file {path} is missing: reinstall it with {INSTALL_HINT}")
        actual = file_sha256(path)
        if actual != sha256:
            try:
                installed = importlib.metadata.version("rapidocr")
            except importlib.metadata.PackageNotFoundError:
                installed = "unknown"
            raise ModelIntegrityError(
                f"refusing to load OCR model {path}: its sha256 is {actual}, expected {sha256} "
                f"(rapidocr {installed} installed, {RAPIDOCR_VERSION} pinned: a damaged, substituted or "
                f"other-version model file; reinstall with {INSTALL_HINT})")
        paths[role] = path
    return paths


def _session(path: Path, threads: int):
    """An ONNX Runtime session on `threads` cores whose idle threads sleep instead of spinning: the
    worker shares its cores (embedding, other processes), and spinning threads measurably slowed
    recognition here (a dense page: 18 s -> 13 s of CPU with spinning off)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _create_engine(threads: int):
    paths = verify_models()
    from omegaconf import flag_override
    from rapidocr import RapidOCR

    # Detection runs at the size `_fit` gives (never more than Global.max_side_len, 2000): RapidOCR's
    # default ("min" side to 736) blew a one-line 600x86 image up to 5134x736, ~6 s instead of ~1 s.
    engine = RapidOCR(params={"Global.log_level": "error", "Det.limit_type": "max", "Det.limit_side_len": 2000})
    # Each part gets a session made here from the verified file: RapidOCR then neither resolves
    # its default model paths nor consults its download URLs.
    for part, role in (("Det", "det"), ("Cls", "cls"), ("Rec", "rec")):
        config = engine.cfg[part]
        with flag_override(config, "allow_objects", True):
            config.session = _session(paths[role], threads)
    # RapidOCR creates its parts on first call; create them now, once, under our lock.
    engine._load_det_model()
    engine._load_cls_model()
    engine._load_rec_model()
    return engine


def engine():
    """The process's engine, created on first use (thread-safe)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _create_engine(usable_cpus())
    return _engine


# --- text from the engine's boxes ----------------------------------------------------------------
_CJK = r"\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff" \
       r"\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_CJK_CHAR = re.compile(rf"[{_CJK}]")


@dataclass
class _Piece:
    text: str
    top: float
    bottom: float
    left: float

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def _join(left: str, right: str) -> str:
    if _CJK_CHAR.match(left[-1:]) and _CJK_CHAR.match(right[:1]):
        return left + right
    return f"{left} {right}"


def _lines(pieces: list[_Piece]) -> list[str]:
    """Pieces whose middles fall within one another's height form a line; lines top to bottom,
    pieces left to right."""
    rows: list[list[_Piece]] = []
    for piece in sorted(pieces, key=lambda p: p.middle):
        row = rows[-1] if rows else None
        if row is not None:
            top = sum(p.top for p in row) / len(row)
            bottom = sum(p.bottom for p in row) / len(row)
            if top <= piece.middle <= bottom and piece.top <= (top + bottom) / 2 <= piece.bottom:
                row.append(piece)
                continue
        rows.append([piece])
    lines = []
    for row in rows:
        text = ""
        for piece in sorted(row, key=lambda p: p.left):
            text = _join(text, piece.text) if text else piece.text
        lines.append(text)
    return lines


def _clean(text: str) -> str:
    return _SPACE_BETWEEN_CJK.sub("", text.strip())


# Small images are enlarged towards a shortest side of DETECT_MIN_SIDE (small print is found more
# reliably), but never past DETECT_MAX_SIDE on their longest: wide strips stay cheap.
DETECT_MIN_SIDE = 736
DETECT_MAX_SIDE = 1600


def _fit(image):
    width, height = image.size
    factor = min(DETECT_MIN_SIDE / max(min(width, height), 1), DETECT_MAX_SIDE / max(width, height, 1))
    if factor <= 1.0:
        return image
    from PIL import Image

    return image.resize((max(1, round(width * factor)), max(1, round(height * factor))), Image.Resampling.BICUBIC)


def _recognise(image) -> str:
    """The text of one decoded Pillow image."""
    ocr = engine()
    image = _fit(image)
    with _run_lock:
        result = ocr(image)
    boxes, texts = getattr(result, "boxes", None), getattr(result, "txts", None)
    if boxes is None or not texts:
        return ""
    pieces = []
    for box, text in zip(boxes, texts, strict=False):
        text = _clean(text)
        if text:
            ys = [float(p[1]) for p in box]
            pieces.append(_Piece(text, min(ys), max(ys), min(float(p[0]) for p in box)))
    return "\n".join(_lines(pieces))


# --- images --------------------------------------------------------------------------------------
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")
_heif_registered: bool | None = None


def _is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _register_heif() -> bool:
    global _heif_registered
    if _heif_registered is None:
        _heif_registered = False
        for module in ("pillow_heif", "pi_heif"):
            if importlib.util.find_spec(module) is not None:
                try:
                    __import__(module).register_heif_opener()
                    _heif_registered = True
                    break
                except Exception as exc:  # noqa: BLE001 - a broken optional plugin is "not available"
                    log.warning("could not register %s: %s", module, exc)
    return _heif_registered


def _frames(data: bytes):
    """The decoded frames to read: TIFF every page (a scanned document), others the first."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise OcrError("the image is empty (0 bytes)")
    if _is_heif(data) and not _register_heif():
        raise OcrError("HEIC/HEIF image: reading it needs the pillow-heif package, which is not installed")
    try:
        image = Image.open(io.BytesIO(data))
        kind = image.format or "image"
        count = getattr(image, "n_frames", 1) if kind == "TIFF" else 1
        frames = []
        for index in range(min(count, MAX_TIFF_PAGES)):
            image.seek(index)
            image.load()
            frames.append(_normalise(ImageOps.exif_transpose(image.copy()) or image.copy()))
        return frames
    except Image.DecompressionBombError as exc:
        raise OcrError(f"the image is too large to read ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise OcrError("not an image in a format that can be read (PNG, JPEG, TIFF, BMP, WEBP, GIF, HEIC)") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise OcrError(f"the image is corrupt or truncated ({exc})") from exc


def _normalise(image):
    """A mode the engine takes: L, RGB or RGBA (it puts transparent areas on a contrasting ground)."""
    if image.mode in ("L", "RGB", "RGBA"):
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):  # 16-bit and float scans: stretch to 8 bits
        import numpy as np
        from PIL import Image

        pixels = np.asarray(image, dtype=np.float32)
        low, high = float(pixels.min()), float(pixels.max())
        pixels = (pixels - low) * (255.0 / (high - low)) if high > low else np.zeros_like(pixels)
        return Image.fromarray(pixels.astype(np.uint8), "L")
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV


def read_image(data: bytes) -> str:
    """The text of an image: lines in reading order, "" when it holds none. Raises OcrError when
    the bytes cannot be decoded as an image."""
    with phase("ocr"):
        return "\n\n".join(text for text in (_recognise(frame) for frame in _frames(data)) if text)


# --- PDF pages -----------------------------------------------------------------------------------
def read_pdf_pages(data: bytes, pages: list[int], scale: float = DEFAULT_PDF_SCALE) -> dict[int, str]:
    """Render the given 0-based pages with pypdfium2 and read them: {page index: text}. Raises
    OcrError when the PDF cannot be opened (corrupt, encrypted), IndexError for a page it lacks."""
    import pypdfium2 as pdfium

    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale}")
    engine()  # created (and hash-checked) before the document is opened
    texts: dict[int, str] = {}
    with _run_lock:  # pdfium is not thread-safe: one document at a time in this module
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            message = str(exc)
            if "password" in message.lower():
                raise OcrError("PDF: the file is encrypted or password-protected") from exc
            raise OcrError(f"PDF: the file cannot be opened ({message})") from exc
        try:
            count = len(pdf)
            for index in pages:
                if not 0 <= index < count:
                    raise IndexError(f"page index {index} is out of range: the PDF has {count} pages")
            for index in dict.fromkeys(pages):  # one page image in memory at a time
                with phase("ocr"):
                    texts[index] = _recognise(_render(pdf, index, scale))
        finally:
            pdf.close()
    return texts


def _render(pdf, index: int, scale: float):
    page = pdf[index]
    try:
        width, height = page.get_size()
        scale = min(scale, MAX_RENDER_SIDE / max(width, height, 1))
        try:
            bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
        except Exception as exc:  # noqa: BLE001 - pdfium raises plain errors on broken pages
            raise OcrError(f"PDF: page {index + 1} cannot be rendered ({exc})") from exc
        return bitmap.to_pil()
    finally:
        page.close()
