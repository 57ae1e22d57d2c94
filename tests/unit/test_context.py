"""Passages fitted to the prompt budget (ragway/context.py): the question's sentences are kept."""

from ragway.context import estimate_tokens, fit, sentences
from ragway.lexical import Tokenizer
from ragway.records import Hit

TOKENIZER = Tokenizer()


def hit(text: str, n: int = 0) -> Hit:
    return Hit(chunk_id=f"c{n}", score=1.0, text=text, kb="kb", doc_id=f"d{n}", source=f"s{n}.md", page=0,
               chunk_index=0, metadata={})


TRAVEL = ("Expenses\nHotels must be booked through the portal. Travel expenses must be submitted within 30 days "
          "of the end of the trip. Receipts are scanned by the finance team. Late claims are paid at 50 percent.")
OTHER = "Security\nPasswords change every quarter. Laptops are encrypted. Badges are worn at all times."


def test_short_passages_are_kept_whole():
    hits = [hit(TRAVEL, 0), hit(OTHER, 1)]
    passages = fit("When are expenses due?", hits, 500, TOKENIZER, question_in_cjk=False)
    assert [p.text for p in passages] == [TRAVEL, OTHER]


def test_over_budget_keeps_the_question_sentences_with_the_heading_and_drops_unrelated_chunks():
    hits = [hit(OTHER, 1), hit(TRAVEL, 0)]
    passages = fit("Within how many days must travel expenses be submitted?", hits, 30, TOKENIZER,
                   question_in_cjk=False)
    assert [p.hit.chunk_id for p in passages] == ["c0"]  # the security chunk shares no term: dropped
    text = passages[0].text
    assert text.startswith("Expenses") and "within 30 days" in text and "Receipts are scanned" not in text
    assert "…" in text and estimate_tokens(text) <= 40


def test_chinese_sentences_and_budget():
    zh = "差旅制度\n员工出差须提前申请。差旅费用须在出差结束后三十天内提交报销。酒店标准为每晚六百元。"
    assert sentences(zh) == ["差旅制度", "员工出差须提前申请。", "差旅费用须在出差结束后三十天内提交报销。",
                             "酒店标准为每晚六百元。"]
    assert estimate_tokens("差旅费用差旅费用差旅费用") == 10 and estimate_tokens("abcdefgh" * 6) == 11
    [passage] = fit("差旅费用多少天内提交报销？", [hit(zh)], 25, TOKENIZER, question_in_cjk=True)
    assert "三十天内" in passage.text and "酒店" not in passage.text and passage.text.startswith("差旅制度")


def test_the_best_sentence_is_kept_even_over_budget():
    [passage] = fit("expenses submitted days", [hit(TRAVEL)], 1, TOKENIZER, question_in_cjk=False)
    assert "30 days" in passage.text


LEAVE_ZH = ("Northwind 休假制度\n年假：新员工入职第一年享有十五天带薪年假，之后每工作满一年增加一天，最多二十五天。\n"
            "年假须至少提前两周通过人事系统申请，并由直属经理批准。\n病假：员工每年享有十天带薪病假。\n"
            "未使用的年假可以结转到下一年，但结转天数不得超过五天，并须在次年三月底前休完。")


def test_a_chinese_chunk_found_for_an_english_question_keeps_its_sentences_by_rank():
    question = "How many unused leave days can be carried over?"
    passages = fit(question, [hit(LEAVE_ZH, 0), hit(TRAVEL, 1), hit(OTHER, 2)], 120, TOKENIZER, question_in_cjk=False)
    assert passages[0].hit.chunk_id == "c0" and "结转天数不得超过五天" in passages[0].text
    # Ranked last, it yields to the sentences that match the question and fills what budget they leave.
    last = fit("Within how many days must travel expenses be submitted?", [hit(TRAVEL, 1), hit(LEAVE_ZH, 0)], 20,
               TOKENIZER, question_in_cjk=False)
    assert [p.hit.chunk_id for p in last] == ["c1"] and "within 30 days" in last[0].text
    # A Chinese question reads the Chinese chunk by its terms, as before.
    zh = fit("未使用的年假可以结转几天？", [hit(LEAVE_ZH, 0), hit(TRAVEL, 1)], 60, TOKENIZER, question_in_cjk=True)
    assert "结转" in zh[0].text and "病假" not in zh[0].text


def test_an_english_chunk_found_for_a_chinese_question_keeps_its_sentences_by_rank():
    # Found by meaning (multilingual_chunks=all), it shares no term with the question: by term overlap all its
    # sentences would score 0 and be dropped for the Chinese chunk's unrelated ones.
    passages = fit("逾期提交的差旅报销按多少比例支付？", [hit(TRAVEL, 0), hit(LEAVE_ZH, 1)], 60, TOKENIZER,
                   question_in_cjk=True)
    assert passages[0].hit.chunk_id == "c0" and "Late claims are paid at 50 percent." in passages[0].text
