"""What makes an answer trustworthy, checked after generation: which numbered passages it cites,
whether the facts it states occur in them, whether it declined, and in which language to speak.

The groundedness check is deliberately simple and explainable: every number, quoted phrase and
proper name in the answer must occur in the passages it cites (all passages when it cites none).
What does not is listed as unsupported, so a reader sees exactly which part to doubt."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ragway.records import Hit

NOT_FOUND = {
    "en": "The documents do not contain the answer to this question.",
    "zh": "文档中没有这个问题的答案。",
}
UNGROUNDED_NOTE = {
    "en": "(Not found in the cited passages: {items}. Check the sources before relying on this.)",
    "zh": "（以下内容在引用的段落中找不到：{items}。请先核对来源。）",
}

# Phrases a model uses when it declines (the prompt asks for NOT_FOUND exactly; models paraphrase).
_DECLINE = re.compile(
    r"(do(es)? not (contain|provide|include|mention|say|specify|state)|not (mentioned|specified|stated|provided|"
    r"included|found) in|no (information|mention) (about|of|on)|cannot (be )?(answer|determine|find)|"
    r"unable to (answer|determine|find)|there is no information|没有(这个问题的)?(答案|相关|提及|提到|说明|信息)|"
    r"未(提及|提到|说明|包含)|无法(回答|确定|找到)|不包含|找不到)",
    re.IGNORECASE)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W\d_]+")
CITATION_MARK = re.compile(r"\[(\d{1,3})\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTED = re.compile(r"[\"“”「『]([^\"“”「」『』]{3,80})[\"“”」』]")
# Capitalised words not at a sentence start; runs of them are one name ("New York City").
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-Z][a-zA-Z]+(?:[ \t]+[A-Z][a-zA-Z]+)*)")
_COMMON = {"I", "The", "A", "An", "In", "On", "It", "This", "That", "These", "Those", "Yes", "No", "If", "For",
           "According", "Based", "However", "Passage", "Passages", "Note", "Not"}


def language_of(text: str) -> str:
    """"zh" for a question written mostly in Chinese: its Chinese characters outnumber its other words
    by half again (a Chinese question naming "API key" is Chinese; "What is 年假?" is English)."""
    chinese = len(_HAN.findall(text))
    words = len(_WORD.findall(_HAN.sub(" ", text)))
    return "zh" if chinese and chinese >= 1.5 * words else "en"


def is_decline(answer: str) -> bool:
    """Whether the model said the passages do not hold the answer (short answers only: a long answer
    that mentions what a passage does not say still answers)."""
    text = CITATION_MARK.sub("", answer).strip()
    if not text:
        return True
    if any(phrase.rstrip(".。") in text for phrase in NOT_FOUND.values()):
        return True
    return len(text) <= 160 and bool(_DECLINE.search(text))


def cited_numbers(answer: str, passages: int) -> list[int]:
    """Passage numbers cited as [n], in order of first mention, only those that exist."""
    seen: list[int] = []
    for match in CITATION_MARK.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= passages and n not in seen:
            seen.append(n)
    return seen


def drop_invalid_citations(answer: str, passages: int) -> str:
    return CITATION_MARK.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= passages else "", answer)


def _normal(text: str) -> str:
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,200 == 1200


def claims(answer: str) -> list[str]:
    """The checkable parts of an answer: numbers, quoted phrases and proper names."""
    text = CITATION_MARK.sub(" ", answer)
    found = [m.group(0) for m in _NUMBER.finditer(text)]
    found += [m.group(1).strip() for m in _QUOTED.finditer(text)]
    found += [m.group(1) for m in _NAME.finditer(text) if m.group(1) not in _COMMON]
    unique: list[str] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


def unsupported_claims(answer: str, passages: list[str]) -> list[str]:
    haystack = _normal("\n".join(passages))
    missing = []
    for claim in claims(answer):
        needle = _normal(claim).rstrip(".,")
        if needle and needle not in haystack:
            missing.append(claim)
    return missing


@dataclass(frozen=True)
class Checked:
    """An answer after the checks: its text, the passages it cites (1-based), and the verdict."""

    text: str
    citations: list[int] = field(default_factory=list)
    declined: bool = False
    grounded: bool = True
    unsupported: list[str] = field(default_factory=list)
    language: str = "en"


def check(answer: str, hits: list[Hit], language: str) -> Checked:
    """Citations, decline and groundedness of a generated answer over its numbered passages."""
    text = drop_invalid_citations(answer.strip(), len(hits))
    if is_decline(text):
        return Checked(NOT_FOUND[language], declined=True, language=language)
    cited = cited_numbers(text, len(hits))
    passages = [hits[n - 1].text for n in cited] if cited else [h.text for h in hits]
    missing = unsupported_claims(text, passages)
    return Checked(text, cited, grounded=not missing, unsupported=missing, language=language)


def ungrounded_note(unsupported: list[str], language: str) -> str:
    """What a reader should doubt, for answers whose text goes out as is (chat); "" when nothing."""
    return UNGROUNDED_NOTE[language].format(items=", ".join(unsupported)) if unsupported else ""
