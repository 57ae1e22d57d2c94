"""Issue 15, item 3: a table row is indexed with its column headers, and a table's title, caption and
sheet name stay with its rows; files made here with openpyxl, python-docx and python-pptx."""

from __future__ import annotations

import io

import pytest

from ragway import loader, tables
from ragway.settings import Settings
from ragway.splitter import Splitter

ROWS = [["Region", "Quarter", "Units"], ["North", "Q2", "1,200"], ["South", "Q3", "950"]]
NORTH = "Region: North | Quarter: Q2 | Units: 1,200"


def chunks(name: str, data: bytes, chunk_size: int = 500) -> list[str]:
    return [p.text for p in Splitter(Settings(chunk_size=chunk_size, chunk_overlap=0)).split(loader.load(name, data))]


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_xlsx_rows_carry_headers_sheet_name_and_title_row():
    data = xlsx({"Sales 2024": [["Sales report"], [], ["Region", "Quarter", "Units"], ["North", "Q2", 1200]],
                 "Sheet2": [["Name", "Office"], ["Ana", "Lisbon"]]})
    first, second = chunks("sales.xlsx", data)
    assert first.splitlines() == ["Sales report", "Sheet: Sales 2024", "Region: North | Quarter: Q2 | Units: 1200"]
    # A default sheet name is no label (the column names are), and the first sheet's title stays there.
    assert second.splitlines() == ["Name | Office", "Name: Ana | Office: Lisbon"]


def docx_with_table(before: list[str], after: list[str] = (), heading: str = "") -> bytes:
    """A .docx: an optional heading, paragraphs, the ROWS table, paragraphs."""
    import docx

    doc = docx.Document()
    if heading:
        doc.add_heading(heading, 1)
    for text in before:
        doc.add_paragraph(text)
    table = doc.add_table(rows=len(ROWS), cols=len(ROWS[0]))
    for r, row in enumerate(ROWS):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    for text in after:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def test_docx_table_keeps_its_heading_and_caption():
    data = docx_with_table(["Sales grew in every region.", "Table 1: Units by region"], ["After the table."],
                           heading="Quarterly results")
    texts = chunks("results.docx", data)
    [table_chunk] = [t for t in texts if NORTH in t]
    assert table_chunk.splitlines()[:2] == ["Quarterly results", "Table 1: Units by region"]
    assert "Region: South | Quarter: Q3 | Units: 950" in table_chunk
    assert not any("Table 1" in t for t in texts if t is not table_chunk)


def test_pptx_table_under_its_slide_title():
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Units by region"
    table = slide.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate(ROWS):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    out = io.BytesIO()
    deck.save(out)
    [text] = chunks("deck.pptx", out.getvalue())
    assert text.splitlines()[0] == "Units by region" and NORTH in text.splitlines()


def test_html_table_caption_and_th_headers():
    html = ("<html><body><h2>Travel</h2><table><caption>Hotel limits</caption><thead><tr><th>City</th>"
            "<th>Limit</th></tr></thead><tbody><tr><td>Paris</td><td>180 EUR</td></tr>"
            "<tr><td>Oslo</td><td>2,100 NOK</td></tr></tbody></table></body></html>")
    [text] = chunks("travel.html", html.encode())
    assert text.splitlines() == ["Travel", "Hotel limits", "City: Paris | Limit: 180 EUR",
                                 "City: Oslo | Limit: 2,100 NOK"]


def test_long_table_repeats_its_label_on_every_chunk_and_keeps_rows_whole():
    rows = [["Item", "Price", "Store"], *[[f"Item {i}", f"{i * 7} EUR", f"warehouse {i % 3}"] for i in range(60)]]
    data = xlsx({"Prices": rows})
    texts = chunks("prices.xlsx", data, chunk_size=300)
    assert len(texts) > 4
    seen = []
    for text in texts:
        label, *lines = text.splitlines()
        assert label == "Sheet: Prices"
        assert all(line.startswith("Item: Item ") and "| Price: " in line and "| Store: warehouse" in line
                   for line in lines)
        seen += lines
    assert len(seen) == 60


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["1", "2", "3"], ["4", "5", "6"]], ["1 | 2 | 3", "4 | 5 | 6"]),  # numbers: no header row
        ([["Metric", "2023", "2024"], ["Revenue", "1,204", "1,377"]],
         ["Metric | 2023 | 2024", "Metric: Revenue | 2023: 1,204 | 2024: 1,377"]),  # years name columns
        ([["Region", "", "Units"], ["North", "n/a", ""]], ["Region | Units", "Region: North | n/a"]),
    ],
)
def test_header_detection(rows, expected):
    assert tables.table_text(rows).splitlines() == expected


def test_caption_detection():
    assert tables.is_caption("Table 3: Revenue by segment") and tables.is_caption("表 2 各地区销量")
    assert not tables.is_caption("The table below shows revenue.")


def test_a_first_row_of_a_label_and_figures_is_data():
    rows = [["PetCare", "0", "-2", "—", "—"], ["Water", "0", "-21", "—", "—"]]
    assert tables.table_text(rows).splitlines() == ["PetCare | 0 | -2 | — | —", "Water | 0 | -21 | — | —"]


def test_filing_tables_join_currency_cells_and_find_their_year():
    # As unstructured reads a 10-K's fee table: "$" and the figure in columns of their own, one year above.
    html = ("<table><tr><td>Fee Type</td><td/><td>2021</td><td/><td/><td>2020</td><td/></tr>"
            "<tr><td>Audit fees</td><td/><td>$</td><td>265,088</td><td/><td/><td>$</td><td>318,285</td><td/></tr>"
            "<tr><td>Net loss</td><td/><td>$</td><td>(2,208,887</td><td>)</td><td/><td>$</td><td>12</td><td/></tr>"
            "</table>")
    _, rows, marked = tables.html_rows(html)
    assert tables.table_text(rows, marked=marked).splitlines() == [
        "Fee Type | 2021 | 2020",
        "Fee Type: Audit fees | 2021: $265,088 | 2020: $318,285",
        "Fee Type: Net loss | 2021: $(2,208,887) | 2020: $12"]


def test_xlsx_header_rows_cut_off_their_rows_head_them_again():
    # A sheet laid out like a financial report: a title, a unit/period row, a header row with no name
    # over the row labels and an empty spacer column, multi-line header cells. unstructured returns the
    # header rows and the figures as two tables; the figures' chunks must still name their columns.
    rows = [["Revenue and results"], [],
            ["In millions of CHF", None, None, None, "January–June 2022"],
            [None, "Sales", "Trading\noperating profit", None, "Depreciation"],
            ["Zone NA", 12138, 1829, None, -348], ["Nespresso", 3190, 757, None, -143]]
    texts = chunks("segments.xlsx", xlsx({"Results H1": rows}))
    [table] = [t for t in texts if "Nespresso" in t]
    assert "Sheet: Results H1 — In millions of CHF January–June 2022" in table.splitlines()
    assert "Nespresso | Sales: 3190 | Trading operating profit: 757 | Depreciation: -143" in table.splitlines()
    assert "Zone NA | Sales: 12138 | Trading operating profit: 1829 | Depreciation: -348" in table.splitlines()


def test_spreadsheet_whole_numbers_stay_integers_and_escaped_breaks_are_spaces():
    # pandas prints an integer column with an empty cell (here its header: an index column) as floats
    # ("243.0"), and a line break in a cell as "\n".
    data = xlsx({"Issues": [[None, "title", "score"], [243, "Crash on\nstart", 2.5], [244, "Slow", 1]]})
    [text] = chunks("issues.xlsx", data)
    assert "243 | title: Crash on start | score: 2.5" in text.splitlines()
    assert "244 | title: Slow | score: 1" in text.splitlines()
    assert "243.0" not in text and "\\n" not in text
    csv = b"id,name\n7,Ana\n,Bob\n8,Cleo\n"
    assert "id: 7 | name: Ana" in chunks("people.csv", csv)[0].splitlines()


def test_spreadsheet_rows_only_touch_whole_float_columns():
    rows = [["id", "version", "note"], ["243.0", "2.0", "a\\nb"], ["", "2.5", ""], ["7.0", "3.0", "x"]]
    assert tables.spreadsheet_rows(rows) == [["id", "version", "note"], ["243", "2.0", "a b"], ["", "2.5", ""],
                                             ["7", "3.0", "x"]]


def test_group_header_row_names_the_columns_below_it():
    rows = [["", "2023", "", "2022", ""], ["Segment", "Sales", "Profit", "Sales", "Profit"],
            ["North", "10", "2", "9", "1"]]
    assert tables.table_text(rows).splitlines()[1] == (
        "Segment: North | 2023 Sales: 10 | 2023 Profit: 2 | 2022 Sales: 9 | 2022 Profit: 1")
    # A filing's HTML whose colspans unstructured dropped: "2021" heads one column only, so no groups.
    rows = [["", "2021", "", "2020"], ["Quarter", "High", "", "Low"], ["Q1", "3", "", "1"]]
    assert tables.table_text(rows).splitlines()[:2] == ["2021 | 2020", "Quarter | 2021: High | 2020: Low"]
    # Two rows of names over rows of words and figures: the second is data, not a header.
    rows = [["Name", "Office"], ["Ana", "Lisbon"], ["Bob", "12"]]
    assert tables.table_text(rows).splitlines()[1:] == ["Name: Ana | Office: Lisbon", "Name: Bob | Office: 12"]


def test_short_line_before_a_table_labels_it():
    data = docx_with_table(["Our offices are listed below, with their managers.", "Regional offices"])
    texts = chunks("offices.docx", data)
    [table_chunk] = [t for t in texts if NORTH in t]
    assert table_chunk.splitlines()[0] == "Regional offices"
    assert texts[0] == "Our offices are listed below, with their managers."
    assert tables.is_label("Simple uniform table") and tables.is_label("Table 2: Units")
    assert not tables.is_label("The table below shows units.") and not tables.is_label("Units by region:")


def test_pptx_slide_title_drawn_after_its_table_heads_it():
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[5])
    first.shapes.title.text = "Overview"
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "This one is kinda backwards, huh?"  # a sentence, but the slide's title
    table = slide.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate(ROWS):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    slide.shapes.title.top = Inches(5)  # below the table: unstructured reads shapes top to bottom
    out = io.BytesIO()
    deck.save(out)
    texts = chunks("deck.pptx", out.getvalue())
    [table_chunk] = [t for t in texts if NORTH in t]
    assert table_chunk.splitlines()[0] == "This one is kinda backwards, huh?"
    assert not any(t.startswith("Overview") and NORTH in t for t in texts)


def test_rows_of_figures_in_a_text_file_stay_under_their_header_line():
    # An infobox copied into a text file: each row reads like a short title line, but a line that ends
    # in two figures is a table row, so the rows stay in one section under their header line.
    text = ("John Smith\n\nJohn Smith is a former footballer who played as a forward for many clubs.\n\n"
            "Senior career\n\nYears Team Apps (Gls)\n\n1986–1990 Watford 63 (9)\n\n"
            "1990–1993 Huddersfield Town 142 (50)\n\n1997–2004 Norwich City 278 (84)\n\n"
            "Early life\n\nSmith was born in Bangor and grew up on the west coast of Wales as a Liverpool fan.\n")
    sections = loader.load("player.txt", text.encode())
    [rows] = [s for s in sections if "Norwich City 278 (84)" in s.text]
    assert "Years Team Apps (Gls)" in rows.text and "Watford 63 (9)" in rows.text
    assert not any(s.title.endswith("(84)") for s in sections)


def results_pdf(caption_below: bool) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("Helvetica", size=11)
    doc.multi_cell(0, 6, "We compare the models on the benchmark's development set and report accuracy for "
                         "each setting of the positional ids. " * 4)
    lines = ["Model rc-gp c-gp gp", "BaseNet 57.6 47.4 46.4", "BaseNet-SAT 45.2 - -", "WideNet 62.2 61.5 61.7"]
    caption = "Table 5: Cell selection accuracy of the variants on the development set. rc-gp: row and column ids."
    for line in ([*lines, caption] if caption_below else [caption, *lines]):
        doc.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    doc.multi_cell(0, 6, "The wide network is better in every setting, which shows that the ids matter. " * 4)
    return bytes(doc.output())


@pytest.mark.parametrize("caption_below", [True, False])
def test_pdf_table_of_figures_keeps_its_rows_with_caption_and_header(caption_below):
    texts = chunks("results.pdf", results_pdf(caption_below))
    [table] = [t for t in texts if "57.6" in t]
    assert table.splitlines() == [
        "Table 5: Cell selection accuracy of the variants on the development set. — Model rc-gp c-gp gp",
        "BaseNet 57.6 47.4 46.4", "BaseNet-SAT 45.2 - -", "WideNet 62.2 61.5 61.7"]
    assert any("We compare the models" in t for t in texts) and any("The wide network is better" in t for t in texts)


def test_pdf_prose_with_numbers_stays_prose():
    from ragway import pdf

    text = ("Revenue grew 12 percent in 2023 to 4.5 billion.\nThe board met 6 times.\n"
            "Sales rose in 2022 and 2023 by 3 and 4 percent.\n")
    assert [s.kind for s in pdf.page_sections(text, 1, "")] == ["text"]
    rows = "North 1,200 3.5\nSouth 950 4.1\n"
    assert [s.kind for s in pdf.page_sections("Our units by region.\nRegion Units Price\n" + rows, 1, "")] == [
        "text", "table"]  # rows of figures under a header line
    assert [s.kind for s in pdf.page_sections("Our units by region:\n" + rows, 1, "")] == ["text"]  # no header


def test_pdf_table_of_words_under_its_caption_keeps_its_rows_with_the_caption():
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("Helvetica", size=11)
    doc.multi_cell(0, 6, "Each dataset comes with models trained for different needs and document types. " * 4)
    lines = ["Table 1: Current layout detection models in the model zoo", "Dataset Base Model Large Model Notes",
             "PubLayNet F / M M Layouts of modern scientific documents", "Newspaper F - Layouts of scanned newspapers",
             "TableBank F F Table region on modern scientific and business document"]
    for line in lines:
        doc.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    doc.multi_cell(0, 6, "For each dataset we train several models of different sizes. " * 4)
    texts = chunks("zoo.pdf", bytes(doc.output()))
    [table] = [t for t in texts if "TableBank" in t]
    assert table.splitlines() == lines
    assert any("For each dataset we train" in t and "TableBank" not in t for t in texts)


def test_prose_about_a_table_is_no_caption():
    from ragway import pdf

    text = ("Table 1 shows the models of the zoo.\nPubLayNet and PRImA cover documents\nNewspaper covers newspapers\n"
            "TableBank covers tables\n")
    assert [s.kind for s in pdf.page_sections(text, 1, "")] == ["text"]
    wrapped = "Table 2: The datasets\nPubLayNet covers many\nscientific documents and\nTableBank covers tables\n"
    assert [s.kind for s in pdf.page_sections(wrapped, 1, "")] == ["text"]  # rows wrap into prose
