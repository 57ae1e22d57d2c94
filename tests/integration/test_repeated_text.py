"""A text kept in two files (a notice saved twice, a table as CSV and as XLSX) takes one place among the
hits, through the real gateway, ingest worker and Milvus: the best copy, the other file in `also_in`
(retriever.fold_repeats), so the other places, and the answer's passages, go to other texts."""

from __future__ import annotations

from tests.integration.conftest import new_kb, wait_for_job

NOTICE = ("Parking notice: from 1 March the staff car park on Quay Street closes at 22:00, and permits are "
          "renewed at the front desk.")
OTHERS = {
    "canteen.md": "The canteen serves hot meals from 11:30 to 14:00; the coffee bar stays open until 17:00.",
    "bikes.md": "Bicycles are parked in the basement racks; the basement door opens with the staff badge.",
    "visitors.md": "Visitors park in the public garage on Quay Street and sign in at the front desk.",
}


def test_a_text_kept_in_two_files_is_one_hit_naming_both(client, tmp_path):
    files = {"parking-notice.md": NOTICE, "parking-notice (copy).txt": NOTICE, **OTHERS}
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")
    kb = new_kb(client, "repeats")
    job = wait_for_job(client, client.upload(kb, sorted(tmp_path.iterdir()))["job_id"])
    assert job["counts"]["done"] == len(files), job
    try:
        for mode in ("hybrid", "dense", "bm25"):
            hits = client.search(kb, "When does the car park on Quay Street close?", top_k=3, mode=mode)["hits"]
            assert [h["text"] for h in hits].count(NOTICE) == 1, (mode, hits)
            notice = next(h for h in hits if h["text"] == NOTICE)
            both = {notice["source"], *(r["source"] for r in notice["also_in"])}
            assert both == {"parking-notice.md", "parking-notice (copy).txt"}, (mode, notice)
            assert len(hits) == 3 or mode == "bm25", (mode, hits)  # the other places hold other texts
        answer = client.ask(kb, "When does the car park on Quay Street close?")
        texts = [s["text"] for s in answer["sources"]]
        assert texts.count(NOTICE) == 1 and len(set(texts)) == len(texts), texts
    finally:
        client.delete_kb(kb)
