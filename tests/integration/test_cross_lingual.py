"""A bilingual company's kb through the real gateway, ingest worker, Milvus 2.3.5 and FastChat: an
English question finds the Chinese policy that answers it (the paired multilingual model reads it across
languages, `RAGWAY_CROSS_LINGUAL_DENSE`), ahead of English documents that share the question's words,
and the answer cites it; an English question about an English document is served as before."""

from __future__ import annotations

import pytest

from tests.integration.conftest import new_kb, wait_for_job

LEAVE_ZH = ("Contoso 休假制度\n\n年假：新员工入职第一年享有十八天带薪年假，之后每工作满一年增加一天。\n"
            "年假须至少提前三周通过人事系统申请，并由直属经理批准。\n\n"
            "病假：员工每年享有十二天带薪病假。连续病假超过三天的，须提供医生证明。\n")
DOCS = {
    "休假制度.txt": LEAVE_ZH,
    "parking.md": "# Parking\n\nEmployees park in the north garage. New employees get a parking badge in their "
                  "first week; visitors park on level 2 for up to 4 hours.\n",
    "expenses.md": "# Expenses\n\nTravel expenses must be submitted within 45 days of the end of the trip, with "
                   "receipts attached. Taxi rides over 60 euros need a manager's approval.\n",
}


@pytest.fixture(scope="module")
def kb(client, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bilingual")
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    name = new_kb(client, "bilingual")
    job = wait_for_job(client, client.upload(name, sorted(folder.iterdir()))["job_id"])
    assert job["status"] == "done", job
    return name


def test_an_english_question_finds_the_chinese_passage_first(client, kb, settings):
    assert settings.cross_lingual_dense
    for question in ("How many days of annual leave does a new employee get in the first year?",
                     "How many paid sick days do employees get each year?"):
        hits = client.search(kb, question)["hits"]
        assert hits[0]["source"] == "休假制度.txt", [h["source"] for h in hits]
    hits = client.search(kb, "Within how many days must travel expenses be submitted?")["hits"]
    assert hits[0]["source"] == "expenses.md"


def test_the_answer_from_the_chinese_passage_cites_it(client, kb):
    answer = client.ask(kb, "How many days of annual leave does a new employee get in the first year?")
    assert not answer["declined"], answer
    assert [c["source"] for c in answer["citations"]] == ["休假制度.txt"], answer
    assert "18" in answer["answer"] or "eighteen" in answer["answer"].lower(), answer["answer"]
