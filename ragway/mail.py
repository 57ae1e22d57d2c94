"""E-mail (.eml) as text: its subject, sender, recipients and date head the body, so a question
about a subject line finds it; an HTML-only mail is read from its HTML part. Attachments are not
ingested (each would need its own parser)."""

from __future__ import annotations

import contextlib
import email
import email.policy
from email.message import EmailMessage

from ragway.errors import DocumentError
from ragway.records import Section

HEADERS = ("Subject", "From", "To", "Cc", "Date")


def _header_lines(message: EmailMessage) -> list[str]:
    lines = []
    for name in HEADERS:
        try:
            value = message.get(name)
        except (ValueError, TypeError, IndexError):  # a malformed header: keep its raw text
            value = message.get_all(name, failobj=[""])[0] if hasattr(message, "get_all") else ""
        if value and str(value).strip():
            lines.append(f"{name}: {' '.join(str(value).split())}")
    return lines


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError):  # an unknown charset: the raw bytes, leniently
        content = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        content = html_text(content)
    return "\n\n".join(" ".join(block.split()) for block in content.split("\n\n") if block.strip())


def html_text(markup: str) -> str:
    """The text of HTML, read leniently (what a browser shows, not the tags); the markup itself
    when it cannot be parsed at all."""
    from lxml import etree, html

    with contextlib.suppress(ValueError, TypeError, etree.ParserError):
        # As bytes: lxml refuses str with an XML encoding declaration (XHTML, inline XBRL).
        doc = html.document_fromstring(markup.encode("utf-8"), parser=html.HTMLParser(encoding="utf-8"))
        for hidden in doc.xpath("//script | //style | //head"):
            hidden.drop_tree()
        blocks = [" ".join(block.split()) for block in doc.text_content().split("\n\n")]
        return "\n\n".join(b for b in blocks if b)
    return markup


def sections(filename: str, data: bytes) -> list[Section]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    headers, body = _header_lines(message), _body(message)
    if not body and not headers:
        raise DocumentError(filename, "EML: neither headers nor a text body")
    subject = next((line.removeprefix("Subject: ") for line in headers if line.startswith("Subject: ")), "")
    return [Section(text="\n".join(headers) + ("\n\n" + body if body else ""), page=0, title=subject)]
