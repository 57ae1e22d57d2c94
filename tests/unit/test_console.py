"""The web console's files (api/console/): served at /ui with strict security headers, built
without HTML strings, offline, and with every UI text in English and Chinese. The console in a
real browser against the stack: tests/integration/test_console.py."""

from __future__ import annotations

import re
import tomllib
from pathlib import PurePosixPath

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.console import CONSOLE_DIR, mount_console

SCRIPTS = sorted(CONSOLE_DIR.rglob("*.js"))
FILES = sorted(p for p in CONSOLE_DIR.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def http() -> TestClient:
    app = FastAPI()
    mount_console(app)
    return TestClient(app)


def test_the_console_is_served_at_ui_with_strict_headers(http):
    page = http.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe" not in csp and "frame-ancestors 'none'" in csp and "require-trusted-types-for 'script'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    script = http.get("/ui/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == csp
    missing = http.get("/ui/nothing-here.js")
    assert missing.status_code == 404 and missing.headers["content-security-policy"] == csp
    assert http.get("/ui", follow_redirects=False).headers["location"].endswith("/ui/")


def test_no_inline_script_or_style_and_nothing_from_elsewhere():
    html = (CONSOLE_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=", html, re.I), "inline style or handler"
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=[\"']?(https?:)?//|url\(\s*[\"']?(https?:)?//|@import", text), path
        assert not re.search(r"\bimport\s*\(?[\"']https?:", text), path


def test_document_text_is_never_parsed_as_html():
    for path in SCRIPTS:
        code = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "createContextualFragment", "DOMParser", "setAttribute(\"style", "srcdoc"):
            assert sink not in code, f"{path.name} uses {sink}"


def _messages() -> dict[str, set[str]]:
    source = (CONSOLE_DIR / "i18n.js").read_text(encoding="utf-8")
    blocks = re.split(r"^  (en|zh): \{$", source, flags=re.M)
    languages = dict(zip(blocks[1::2], blocks[2::2], strict=True))
    key = re.compile(r'^\s+(?:"([\w.]+)"|(\w+)):', re.M)
    return {lang: {a or b for a, b in key.findall(text.split("\n  },")[0])} for lang, text in languages.items()}


def test_every_text_is_in_english_and_chinese():
    messages = _messages()
    assert set(messages) == {"en", "zh"} and len(messages["en"]) > 100
    assert messages["en"] == messages["zh"], messages["en"] ^ messages["zh"]
    used = set()
    for path in [*SCRIPTS, CONSOLE_DIR / "index.html"]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'(?:i18n|i18nPlaceholder|i18nTitle|key): "([\w.]+)"', text))
        used |= set(re.findall(r'data-i18n="([\w.]+)"', text))
        used |= set(re.findall(r'\bt\("([\w.]+)"', text))
        prefixes = {k.split(".")[0] for k in messages["en"] if "." in k}  # any "kbs.x"-like literal is a key
        used |= {k for k in re.findall(r'"([a-z]+\.[A-Za-z.]+)"', text) if k.split(".")[0] in prefixes
                 and not k.endswith((".js", ".css", ".svg"))}
        for prefix, names in (("role", "reader writer admin"), ("status", "queued running done failed cancelled"),
                              ("mode", "hybrid dense bm25 mmr"),
                              ("tab", "kbs upload documents chat search keys audit")):
            if f"`{prefix}.${{" in text:
                used |= {f"{prefix}.{name}" for name in names.split()}
    missing = used - messages["en"]
    assert not missing, missing


def test_every_console_file_is_in_the_package_data():
    """The container image installs the package (not the source tree): the console must be in it."""
    pyproject = tomllib.loads((CONSOLE_DIR.parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["api"]
    for path in FILES:
        relative = PurePosixPath(path.relative_to(CONSOLE_DIR.parent).as_posix())
        assert any(relative.match(p) for p in patterns), f"{relative} is not in [tool.setuptools.package-data]"
