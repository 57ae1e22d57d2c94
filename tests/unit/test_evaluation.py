"""The metric code on a tiny hand-made BEIR dataset whose values are worked out by hand below."""

import json
import math

import pytest

from ragway.apps.evaluation import (
    evaluate,
    load_beir,
    load_dataset,
    mrr_at_k,
    ndcg_at_k,
    query_metrics,
    recall_at_k,
)

CORPUS = [
    {"_id": "d1", "title": "Alpha", "text": "first"},
    {"_id": "d2", "title": "", "text": "second"},
    {"_id": "d3", "title": "Gamma", "text": "third"},
    {"_id": "d4", "text": "fourth"},
    {"_id": "d5", "title": "Epsilon", "text": "fifth"},
]
QUERIES = [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}, {"_id": "q3", "text": "three"},
           {"_id": "q4", "text": "judged but nothing relevant"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq2\td4\t1\nq3\td2\t1\nq3\td5\t0\nq4\td1\t0\n"


@pytest.fixture()
def dataset(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in CORPUS) + "\n")
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in QUERIES) + "\n")
    (tmp_path / "qrels" / "test.tsv").write_text(QRELS)
    return load_beir(tmp_path, "test")


def test_loading(dataset, tmp_path):
    assert set(dataset.corpus) == {"d1", "d2", "d3", "d4", "d5"}
    assert dataset.corpus["d1"].title == "Alpha" and dataset.corpus["d4"].title == ""
    assert dataset.queries["q2"] == "two"
    assert dataset.qrels == {"q1": {"d1": 2, "d2": 1}, "q2": {"d4": 1}, "q3": {"d2": 1, "d5": 0}, "q4": {"d1": 0}}
    assert dataset.judged_queries == ["q1", "q2", "q3"]  # q4 has no relevant document
    with pytest.raises(FileNotFoundError, match="splits here: test"):
        load_beir(tmp_path, "train")


def test_squad_json_as_a_retrieval_set(tmp_path):
    squad = {"version": "v2.0", "data": [
        {"title": "泡泡战士", "paragraphs": [
            {"id": "P1", "context": "由韩国Nexon开发。", "qas": [{"id": "q1", "question": "谁开发的？"}]},
            {"context": "Second paragraph.", "qas": [
                {"id": "q2", "question": "Which one?"},
                {"id": "q3", "question": "Unanswerable?", "is_impossible": True}]}]}]}
    path = tmp_path / "trial.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    data = load_dataset(path)
    assert data.name == "trial" and set(data.corpus) == {"P1", "0-1"}
    assert data.corpus["P1"].title == "泡泡战士" and data.corpus["P1"].text == "由韩国Nexon开发。"
    assert data.queries == {"q1": "谁开发的？", "q2": "Which one?"}
    assert data.qrels == {"q1": {"P1": 1}, "q2": {"0-1": 1}} and data.judged_queries == ["q1", "q2"]
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="bad.json"):
        load_dataset(tmp_path / "bad.json")


def test_graded_ndcg_by_hand():
    # q1: relevant d1 (grade 2) and d2 (grade 1); ranked d3, d1, d2, d4.
    # DCG  = 0/log2(2) + 2/log2(3) + 1/log2(4) = 1.26186 + 0.5 = 1.76186
    # IDCG = 2/log2(2) + 1/log2(3)             = 2 + 0.63093    = 2.63093
    ranked, rel = ["d3", "d1", "d2", "d4"], {"d1": 2, "d2": 1}
    assert ndcg_at_k(ranked, rel, 10) == pytest.approx(1.76186 / 2.63093, abs=1e-4)
    assert ndcg_at_k(ranked, rel, 10) == pytest.approx((2 / math.log2(3) + 0.5) / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["d1", "d2"], rel, 10) == pytest.approx(1.0)
    # Cut at 2: only d1 at rank 2 counts; ideal still d1 then d2.
    assert ndcg_at_k(ranked, rel, 2) == pytest.approx((2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["d9"], rel, 10) == 0.0


def test_recall_and_mrr_by_hand():
    ranked, rel = ["d3", "d1", "d2", "d4"], {"d1": 2, "d2": 1, "d7": 0}
    assert recall_at_k(ranked, rel, 1) == 0.0
    assert recall_at_k(ranked, rel, 2) == 0.5  # d1 of {d1, d2}; d7 (grade 0) is not relevant
    assert recall_at_k(ranked, rel, 5) == 1.0
    assert mrr_at_k(ranked, rel, 10) == 0.5
    assert mrr_at_k(ranked, rel, 1) == 0.0


def test_duplicates_count_once_at_their_best_rank():
    # Chunks of one document map to the same id: d2 twice, then d5 (grade 0).
    m = query_metrics(["d2", "d2", "d5"], {"d2": 1, "d5": 0})
    assert m == {"ndcg@10": 1.0, "recall@1": 1.0, "recall@5": 1.0, "recall@10": 1.0, "recall@100": 1.0,
                 "mrr@10": 1.0}


def test_mean_over_judged_queries(dataset):
    run = {"q1": ["d3", "d1", "d2", "d4"], "q3": ["d2", "d2", "d5"], "q4": ["d1"]}  # q2 retrieved nothing
    m = evaluate(run, dataset.qrels)
    q1_ndcg = (2 / math.log2(3) + 0.5) / (2 + 1 / math.log2(3))  # 0.66967
    assert m["ndcg@10"] == pytest.approx((q1_ndcg + 0 + 1) / 3)  # q4 is left out: no relevant document
    assert m["ndcg@10"] == pytest.approx(0.55656, abs=1e-4)
    assert m["recall@1"] == pytest.approx((0 + 0 + 1) / 3)
    assert m["recall@5"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["mrr@10"] == pytest.approx((0.5 + 0 + 1) / 3)


def test_run_answers_counts_declines_and_gold_answers(tmp_path):
    from ragway.apps.evaluation import BeirDataset, load_answerability, run_answers
    from ragway.rag import Answer, RetrievalOptions

    rows = [{"_id": "a1", "text": "Where is Normandy?", "metadata": {"is_impossible": False, "answers": ["France"]}},
            {"_id": "a2", "text": "Who ruled?", "metadata": {"is_impossible": False, "answers": ["Rollo"]}},
            {"_id": "u1", "text": "Who ruled Mars?", "metadata": {"is_impossible": True, "answers": []}},
            {"_id": "u2", "text": "When did Normandy fly?", "metadata": {"is_impossible": True, "answers": []}},
            {"_id": "x", "text": "no metadata"}]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    answerability = load_answerability(tmp_path)
    assert set(answerability) == {"a1", "a2", "u1", "u2"} and answerability["a1"] == (True, ["France"])

    replies = {"Where is Normandy?": ("Normandy is in France.", True), "Who ruled?": ("It is not mentioned.", True),
               "Who ruled Mars?": ("", False), "When did Normandy fly?": ("In 1066.", True)}

    class CannedRag:  # the counting logic only; the real RagService is exercised by `ragway eval`
        def ask(self, tenant, kb, question, options):
            text, found = replies[question]
            declined = not found or text == "It is not mentioned."
            return Answer(text, sources=[object()] if found else [], question=question, declined=declined)

    data = BeirDataset("t", {}, {r["_id"]: r["text"] for r in rows}, {}, "test")
    report = run_answers(CannedRag(), "kb", data, answerability, 5, RetrievalOptions()).as_dict()
    assert report == {"unanswerable": 2, "answerable": 2, "declined_unanswerable": 0.5, "declined_by_threshold": 0.5,
                      "false_declines_answerable": 0.5, "gold_in_answer_answerable": 0.5}


def test_eval_names_a_folder_that_is_no_dataset_without_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from ragway.apps.cli import app

    result = CliRunner().invoke(app, ["eval", "--dataset", str(tmp_path), "--modes", "hybrid"])
    assert result.exit_code == 2, result.output
    words = " ".join(result.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())  # rich's error box
    assert "corpus.jsonl is missing" in words and "Traceback" not in result.output
