"""Citations, declines, groundedness and answer language (ragway/grounding.py), on hand-made answers."""

from ragway import grounding
from ragway.records import Hit


def hit(text: str, source: str = "travel-policy.md", page: int = 0) -> Hit:
    return Hit(chunk_id=source + text[:8], score=0.9, text=text, kb="kb", doc_id="d-" + source, source=source,
               page=page, chunk_index=0, metadata={})


PASSAGES = [hit("Travel expenses must be submitted within 30 days of the trip's end, with receipts."),
            hit("New employees get 15 days of annual leave; Lena Ortiz in HR approves exceptions.", "leave.md"),
            hit("差旅费用须在出差结束后30天内提交报销。", "差旅.md")]


def test_cited_answer_is_grounded_and_maps_its_numbers():
    checked = grounding.check("Expenses are due within 30 days [1].", PASSAGES, "en")
    assert checked.citations == [1] and checked.grounded and not checked.declined
    assert checked.unsupported == []


def test_an_answer_stating_what_no_passage_holds_is_withdrawn_as_a_decline():
    checked = grounding.check("Expenses are due within 18 days [1].", PASSAGES, "en")
    assert checked.declined and checked.withdrawn and checked.text == grounding.NOT_FOUND["en"]
    assert not checked.grounded and checked.unsupported == ["18 days"] and checked.citations == []
    assert "18 days" in grounding.ungrounded_note(checked.unsupported, "en", withdrawn=True)
    assert grounding.ungrounded_note([], "en") == ""


def test_kept_unsupported_answers_are_flagged_not_passed_off():
    checked = grounding.check("Expenses are due within 18 days [1].", PASSAGES, "en", withdraw_unsupported=False)
    assert not checked.declined and not checked.grounded and checked.unsupported == ["18 days"]
    assert checked.text.startswith("Expenses are due within 18 days")
    assert "18" in grounding.ungrounded_note(checked.unsupported, "en")


def test_a_fact_cited_to_the_wrong_passage_is_recited_to_the_one_that_holds_it():
    # 15 days is in passage 2, but the answer cites passage 1 for it
    checked = grounding.check("New staff get 15 days [1].", PASSAGES, "en")
    assert checked.grounded and checked.citations == [2] and checked.text == "New staff get 15 days [2]."
    assert grounding.check("New staff get 15 days [2].", PASSAGES, "en").citations == [2]


def test_facts_scattered_over_passages_it_does_not_cite_are_unsupported():
    # 30 days is in passage 1, Lena Ortiz only in passage 2: no one passage says she handles expenses
    checked = grounding.check("Expenses go to Lena Ortiz within 30 days [1].", PASSAGES, "en")
    assert checked.declined and checked.unsupported == ["Lena Ortiz"]
    both = grounding.check("Expenses within 30 days [1]; exceptions by Lena Ortiz [2].", PASSAGES, "en")
    assert both.grounded and both.citations == [1, 2]


def test_numbers_match_whole_numbers_only():
    assert grounding.check("Within 3 days [1].", PASSAGES, "en").unsupported == ["3 days"]
    assert grounding.check("Within 30 days [1].", PASSAGES, "en").grounded


def test_numbers_written_in_digits_match_the_passages_words():
    spelled = [hit("The library system encompasses six libraries."), hit("图书馆系统包括六个图书馆。")]
    assert grounding.check("It has 6 libraries [1].", spelled, "en").grounded
    assert grounding.check("共有 6 个图书馆 [2]。", spelled, "zh").grounded
    assert grounding.check("It has 7 libraries [1].", spelled, "en").unsupported == ["7"]
    assert grounding.check("It has 16 libraries [1].", [hit("It has sixteen libraries.")], "en").grounded
    assert not grounding.check("It has 6 libraries [1].", [hit("It has sixty libraries.")], "en").grounded
    assert not grounding.check("共有 1 个 [1]。", [hit("共有十一个。")], "zh").grounded  # 一 inside 十一


def test_names_and_quotes_are_checked_numbers_normalised():
    assert grounding.check("Ask Lena Ortiz [2].", PASSAGES, "en").grounded
    checked = grounding.check('Ask Mark Twain, who says "receipts are optional" [1][2].', PASSAGES, "en")
    assert checked.declined and checked.unsupported == ["receipts are optional", "Mark Twain"]
    big = [hit("Units sold: 1,200 in Q2.")]
    assert grounding.check("1200 units [1].", big, "en").grounded
    titled = [hit("Yuan_dynasty Advances in polynomial algebra were made during the Yuan era.")]
    assert grounding.check("Polynomial algebra advanced in the Yuan Dynasty [1].", titled, "en").grounded


def test_citations_that_name_no_passage_are_dropped():
    checked = grounding.check("Within 30 days [1][7].", PASSAGES, "en")
    assert checked.citations == [1] and "[7]" not in checked.text


def test_an_uncited_answer_cites_the_passage_that_holds_its_facts():
    checked = grounding.check("Within 30 days.", PASSAGES, "en")
    assert checked.grounded and checked.citations == [1] and checked.text == "Within 30 days. [1]"
    assert grounding.check("Within 45 days.", PASSAGES, "en").declined


def test_declines_in_both_languages_become_the_canonical_sentence():
    for text in ("The documents do not contain the answer to this question.",
                 "The passages do not mention the CEO's salary.", "I cannot determine that from the passages.", ""):
        checked = grounding.check(text, PASSAGES, "en")
        assert checked.declined and checked.text == grounding.NOT_FOUND["en"], text
    for text in ("文档中没有这个问题的答案。", "段落中未提及此事。"):
        checked = grounding.check(text, PASSAGES, "zh")
        assert checked.declined and checked.text == grounding.NOT_FOUND["zh"], text
    assert not grounding.check("Within 30 days [1]; receipts do not need a stamp.", PASSAGES, "en").declined


def test_chinese_answer_checks_digits_in_chinese_passages():
    checked = grounding.check("出差结束后30天内提交[3]。", PASSAGES, "zh")
    assert checked.grounded and checked.citations == [3]
    declined = grounding.check("出差结束后18天内提交[3]。", PASSAGES, "zh")
    assert declined.declined and declined.text == grounding.NOT_FOUND["zh"] and declined.unsupported == ["18天"]


def test_a_number_counts_what_its_unit_says():
    """"3小时" is not held by a passage's "三天": a number with a unit is a claim about that unit, in either script,
    where the passage gives the number a unit too; units of one class match."""
    leave = [hit("病假每年十天，连续病假超过三天需提供医院证明。", "年假.md")]
    made_up = grounding.check("3小时以上的航班可以坐商务舱。[1]", leave, "zh", question="多长时间的航班可以坐商务舱？")
    assert made_up.withdrawn and made_up.unsupported == ["3小时"]
    assert grounding.check("连续病假超过3天需要医院证明[1]。", leave, "zh").grounded
    assert grounding.check("Sick leave over 3 days needs a doctor's note [1].", leave, "en").grounded  # across scripts
    assert grounding.check("Expenses are due within 30 days [3].", PASSAGES, "en").grounded  # 30天
    assert grounding.check("差旅费用须在30日内提交[1]。", PASSAGES, "zh").grounded  # days: 天, 日, days
    assert grounding.check("Expenses are due within 30 hours [1].", PASSAGES, "en").unsupported == ["30 hours"]
    hotel = [hit("Hotels are reimbursed up to 180 EUR per night; flights over 6 hours may go business class.")]
    assert grounding.check("Up to 180 euros a night [1].", hotel, "en").grounded
    assert grounding.check("Up to 180 dollars a night [1].", hotel, "en").unsupported[0] == "180 dollars"
    # A number the passage gives no unit holds any: "at age 39" for "39 years old"; and the unit, checked with
    # its number, is no word the answer brings in of its own.
    age = [hit("Peyton Manning, at age 39, became the oldest quarterback to win a Super Bowl.")]
    assert grounding.check("Peyton Manning was 39 years old [1].", age, "en", question="How old was Manning?").grounded
    assert grounding.novel_words("He was 39 years old [1].", [age[0].text], "How old was he?") == []
    assert grounding.novel_words("He was many years old [1].", [age[0].text], "How old was he?") == ["years"]


def test_language_of_question():
    assert grounding.language_of("差旅费用需要在多少天内提交？") == "zh"
    assert grounding.language_of("Within how many days must travel expenses be submitted?") == "en"
    assert grounding.language_of("RAGWAY 的 API key 怎么创建？") == "zh"


def test_a_streamed_answer_whose_citations_were_corrected_gets_a_sources_note():
    streamed = "New staff get 15 days [1]."
    checked = grounding.check(streamed, PASSAGES, "en")
    assert grounding.sources_note(streamed, checked) == "(Sources: [2])"
    assert grounding.sources_note("Within 30 days [1].", grounding.check("Within 30 days [1].", PASSAGES, "en")) == ""


def test_the_models_words_about_passages_are_no_claims():
    assert grounding.claims("Within 30 days, as stated in passage 1 and found in 2 passages [1].") == ["30 days"]
    assert grounding.check("Within 30 days. This is found in 2 passages.", PASSAGES, "en").grounded


def test_an_answer_bringing_in_words_of_its_own_is_unsupported():
    travel = [hit("Northwind Travel Policy. Travel expenses must be submitted within 30 days of the end of the trip."),
              hit("Employees book economy class for flights shorter than six hours.")]
    question = "What is the dress code for the annual gala?"
    made_up = "The dress code for the annual gala is formal and conservative, as per the Northwind Travel Policy. [1]"
    checked = grounding.check(made_up, travel, "en", question=question)
    assert checked.declined and checked.withdrawn and checked.unsupported == ["formal", "conservative"]
    kept = grounding.check(made_up, travel, "en", withdraw_unsupported=False, question=question)
    assert not kept.grounded and kept.text.startswith("The dress code")
    assert grounding.check(made_up, travel, "en").grounded  # without the question there is nothing to compare
    # One word of the model's own is allowed; the question's words and the passages' (any inflection) are not new.
    own = grounding.check("Expenses are submitted within 30 days of the trip's end, as required [1].", travel, "en",
                          question="When are travel expenses due?")
    assert own.grounded and grounding.novel_words(own.text, [h.text for h in travel], "When due?") == ["required"]
    assert grounding.novel_words("Gene CYP27B1, named by Besançon [1].", [], "") == ["Gene", "named"]
    # One new word is too many when it is most of what the answer adds to the question.
    flights = [*travel, hit("Business class is allowed for flights of six hours or more.")]
    attire = grounding.check("The dress code for client meetings is business attire, as stated in Passage [3].",
                             flights, "en", question="What is the dress code for client meetings?")
    assert attire.withdrawn and attire.unsupported == ["attire"]
    held = grounding.check("Business class is allowed for flights of six hours or more [3].", flights, "en",
                           question="When may staff fly business class?")
    assert held.grounded and not held.declined
    # An English answer from a Chinese passage translates it: one word of its own is no invention there
    # (its words cannot be in the passage); two or more still are, and numbers are still checked.
    leave = [hit("Northwind 休假制度\n年假：新员工入职第一年享有十五天带薪年假，之后每工作满一年增加一天。",
                 "leave-zh.txt")]
    asked = "How many days of annual leave does a new employee get?"
    translated = grounding.check("A new employee gets fifteen days of annual leave in their first year [1].", leave,
                                 "en", question=asked)
    assert translated.grounded and not translated.declined and translated.citations == [1]
    assert grounding.check("A new employee gets fifteen days of annual leave in their first year, with a bonus "
                           "for seniority [1].", leave, "en", question=asked).withdrawn
    assert grounding.check("A new employee gets 18 days of annual leave [1].", leave, "en", question=asked).withdrawn
    zh = grounding.check("着装要求是正式 [1]。", [hit("差旅费用须在出差结束后 30 天内提交。")], "zh",
                         question="年会着装要求是什么？")
    assert zh.grounded  # English answers only: Chinese answers paraphrase more (CMRC) and are not measured yet


def test_a_mark_on_a_line_of_its_own_joins_the_sentence_it_cites():
    zh = grounding.check("出差结束后30天内提交报销。\n\n[3]", PASSAGES, "zh")
    assert zh.text == "出差结束后30天内提交报销。[3]" and zh.citations == [3]
    en = grounding.check("Expenses are due within 30 days.\n[1]", PASSAGES, "en")
    assert en.text == "Expenses are due within 30 days. [1]"
    listed = "Two rules:\n- within 30 days [1]\n- with receipts\n[1]"
    assert grounding.check(listed, PASSAGES, "en").text == "Two rules:\n- within 30 days [1]\n- with receipts [1]"
    assert grounding.attach_lone_marks("Due in 30 days [1].\nReceipts too.") == "Due in 30 days [1].\nReceipts too."


def test_a_spelled_out_number_moves_a_citation_to_the_passage_that_holds_it_in_any_script():
    passages = [hit("Passwords must be changed every 90 days.", "security-faq.html"),
                hit("病假：员工每年享有十天带薪病假。年假：新员工入职第一年享有十五天带薪年假，最多二十五天。"
                    "年假须至少提前两周申请。", "leave-zh.txt")]
    sick = grounding.check("Employees get ten days of sick leave per year. [1]", passages, "en")
    assert sick.citations == [2] and sick.grounded and sick.text.endswith("[2]")
    annual = grounding.check("A new employee gets fifteen days of annual leave. [1]", passages, "en")
    assert annual.citations == [2] and annual.grounded
    assert grounding.check("At least two weeks ahead [1].", passages, "en").citations == [2]  # 两周
    assert grounding.check("At most twenty-five days [2].", passages, "en").citations == [2]
    # A spelled number no passage holds is the model's own framing, not a reason to withdraw.
    framed = grounding.check("Two rules apply: change passwords every 90 days [1].", passages, "en")
    assert framed.citations == [1] and not framed.declined


def test_a_reply_that_repeats_the_question_is_withdrawn_not_passed_as_an_answer():
    question = "多长时间的航班可以坐商务舱？"
    echo = grounding.check("多长时间的航班可以坐商务舱？[1]", PASSAGES, "zh", question=question)
    assert echo.declined and echo.withdrawn and not echo.grounded and echo.text == grounding.NOT_FOUND["zh"]
    assert echo.unsupported == [grounding.REPEATS_QUESTION["zh"]]
    assert grounding.ungrounded_note(echo.unsupported, "zh", withdrawn=True) == grounding.REPEATED_NOTE["zh"]
    kept = grounding.check("多长时间的航班可以坐商务舱？[1]", PASSAGES, "zh", withdraw_unsupported=False,
                           question=question)
    assert not kept.declined and not kept.grounded and kept.unsupported == [grounding.REPEATS_QUESTION["zh"]]
    # Without its question mark, or asked back in other words of the question, it is still no answer.
    assert grounding.check("When are travel expenses due [1]", PASSAGES, "en",
                           question="When are travel expenses due?").withdrawn
    assert grounding.check("When are the travel expenses due? [1]", PASSAGES, "en",
                           question="When are travel expenses due?").withdrawn
    # Answers built from the question's words are answers: a yes/no question restated, a choice picked.
    for answer, asked in [("差旅费用须在30天内提交[3]。", "差旅费用须在30天内提交吗？"),
                          ("Yes, expenses are due within 30 days [1].", "Are expenses due within 30 days?"),
                          ("30 days [1].", "Are expenses due within 30 or 60 days?")]:
        checked = grounding.check(answer, PASSAGES, grounding.language_of(asked), question=asked)
        assert not checked.declined and checked.grounded, answer
    assert not grounding.repeats_question("Expenses are due within 30 days [1].", "")


def test_ragway_ask_says_why_an_answer_was_withdrawn(capsys):
    from ragway.apps.cli import print_answer

    result = {"answer": grounding.NOT_FOUND["zh"], "declined": True, "grounded": False, "citations": [],
              "unsupported": [grounding.REPEATS_QUESTION["zh"]], "sources": []}
    print_answer(result)
    assert f"withdrawn, unsupported: {grounding.REPEATS_QUESTION['zh']}" in capsys.readouterr().out
    print_answer({**result, "unsupported": [], "grounded": True})
    assert "(declined: no passage holds the answer)" in capsys.readouterr().out


def test_ragway_ask_names_the_other_files_of_a_folded_source(capsys):
    from ragway.apps.cli import print_answer

    source = {"source": "sales.xlsx", "page": 0, "text": "Region: North | Units: 1,200",
              "also_in": [{"chunk_id": "c", "doc_id": "d", "source": "sales.csv", "page": 0}]}
    print_answer({"answer": "1,200 units [1].", "declined": False, "grounded": True,
                  "citations": [{"n": 1}], "sources": [source, {**source, "source": "notes.md", "also_in": []}]})
    out = capsys.readouterr().out
    assert "*[1] sales.xlsx (also in sales.csv): 'Region" in out and "[2] notes.md: 'Region" in out
