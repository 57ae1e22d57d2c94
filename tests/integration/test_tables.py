"""Issue 15, item 3 on the real stack: a spreadsheet row is found by a question naming its column
headers, because the row is indexed as "Region: ... | Quarter: ... | Units: ..." (ragway/tables.py)."""

from __future__ import annotations

import io

import openpyxl

from tests.integration.conftest import new_kb, wait_for_job

REGIONS = ["Nordhavn", "Sydmark", "Vestby", "Østerdal", "Midtfjord", "Kystland", "Fjellvik", "Skogheim", "Elvdal",
           "Havnes"]
ROW = "Region: Fjellvik | Quarter: Q3 | Units: 4,713 | Returns: 58 | Sales rep: Ingrid Moe"


def spreadsheet() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Unit sales 2025"
    ws.append(["Region", "Quarter", "Units", "Returns", "Sales rep"])
    reps = ["Ola Berg", "Kari Lund", "Per Dahl", "Ingrid Moe", "Nils Hauge"]
    for r, region in enumerate(REGIONS):
        for q in range(1, 5):
            units = 1000 + (r * 389 + q * 1277) % 4000 if (region, q) != ("Fjellvik", 3) else "4,713"
            ws.append([region, f"Q{q}", units, 10 + (r * 7 + q * 13) % 90 if units != "4,713" else 58,
                       reps[(r + q) % 5] if units != "4,713" else "Ingrid Moe"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_a_row_is_found_by_a_question_naming_its_column_headers(client, tmp_path):
    kb = new_kb(client, "tables")
    path = tmp_path / "unit-sales.xlsx"
    path.write_bytes(spreadsheet())
    (tmp_path / "notes.md").write_text("# Sales notes\n\nUnits are counted when shipped; returns when received. "
                                       "Every region reports once a quarter.\n", encoding="utf-8")
    job = wait_for_job(client, client.upload(kb, [path, tmp_path / "notes.md"])["job_id"])
    assert job["counts"]["done"] == 2, job
    try:
        hits = client.search(kb, "How many units did the Fjellvik region sell in quarter Q3?", top_k=3)["hits"]
        assert ROW in hits[0]["text"].splitlines(), [h["text"][:300] for h in hits]
        # What users read: the sheet's name heads the rows, each row one line.
        assert hits[0]["text"].splitlines()[0] == "Sheet: Unit sales 2025"
        hits = client.search(kb, "Which sales rep had 58 returns in Q3?", top_k=3)["hits"]
        assert any(ROW in h["text"].splitlines() for h in hits), [h["text"][:300] for h in hits]
    finally:
        client.delete_kb(kb)
