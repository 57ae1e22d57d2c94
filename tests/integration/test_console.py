"""The web console (/ui) driven in a real headless Chromium (Debian's chromium and chromium-driver,
selenium from PyPI) against the real stack: sign in, create a kb, upload two files (one with a
Chinese name and content), watch the job finish, ask and open a citation, search in two modes,
switch the language, create and revoke a key and see the page refuse it.

The gateway is a replica of this checkout on its own port (same Redis, Milvus and LLM), so the
console tested is the one in the working tree. Each page is screenshot; with
RAGWAY_UPDATE_SCREENSHOTS=1 the shots replace docs/console-<page>.png (otherwise they go to
<tmp>/ragway-console-shots, and a run leaves the tree clean)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest

from ragway.apps.client import GatewayClient, GatewayError
from ragway.auth import Role
from ragway.settings import get_settings
from tests.integration.conftest import extra_gateway, wait_for_job
from tests.ports import free_port

pytestmark = pytest.mark.stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
if not CHROMIUM or not Path(CHROMEDRIVER).exists():
    pytest.skip("the console's browser tests need Debian's chromium and chromium-driver "
                "(apt-get install chromium chromium-driver; deploy/local/install-system-tools.sh does it as root)",
                allow_module_level=True)
selenium = pytest.importorskip("selenium", reason="the console's browser tests need selenium (the dev extra)")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    ElementNotInteractableException,
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_SHOTS = os.environ.get("RAGWAY_UPDATE_SCREENSHOTS") == "1"
SHOTS = DOCS if UPDATE_SHOTS else Path(tempfile.gettempdir()) / "ragway-console-shots"
ENGLISH = ("expense-policy.md", "# Expense policy\n\n"
           "Expense reports must be submitted within 45 days of the end of a business trip.\n"
           "Receipts are required for every expense above 25 euros. Reports are approved by the "
           "traveller's manager and paid with the next salary.\n")
CHINESE = ("员工手册.txt", "员工手册\n\n"
           "年假：新员工入职第一年享有十二天带薪年假，之后每工作满一年增加一天。\n"
           "病假须在当天上午十点前通知直属经理，并在返岗后三天内提交医院证明。\n")
LLM_TIMEOUT_S = 600  # two cores, shared: an answer can take minutes


@pytest.fixture(scope="module")
def console(stack, settings):
    with extra_gateway(settings, free_port()) as url:
        yield f"{url}/ui/"


@pytest.fixture(scope="module")
def browser():
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager, should it run at all, downloads nothing
    profile = tempfile.mkdtemp(prefix="ragway-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,860",
                "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def admin_key(keys, settings):
    record, token = keys.create(settings.default_tenant, Role.admin, name="console test admin")
    yield token
    keys.revoke(settings.default_tenant, record.key_id)


READER_NAME = f"console reader {uuid.uuid4().hex[:6]}"  # unique: a run that stopped half-way leaves its key


@pytest.fixture(scope="module")
def state(settings, admin_key):
    state = {}
    yield state
    if "kb" in state:  # the last test deletes it in the console; this is for a run that stopped earlier
        with contextlib.suppress(GatewayError):
            GatewayClient(settings.gateway_url, api_key=admin_key).delete_kb(state["kb"])


def wait(driver, condition, timeout_s: float = 30, message: str = ""):
    """Pages re-render as jobs and answers progress: an element gone meanwhile is looked up again."""
    return WebDriverWait(driver, timeout_s, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException, NoSuchElementException,
                                             ElementNotInteractableException)).until(
        lambda d: condition(d), message)


def el(driver, css: str):
    return driver.find_element(By.CSS_SELECTOR, css)


def visible(driver, css: str) -> bool:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return bool(found) and found[0].is_displayed()


def row_cells(driver, css: str, holding: str) -> list[str]:
    """The cell texts of the first row matching css that holds `holding` ([] while there is none)."""
    for row in driver.find_elements(By.CSS_SELECTOR, css):
        if holding in row.text:
            return [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")]
    return []


def click_in_row(driver, css: str, holding: str, target: str) -> bool:
    """Click `target` in the first row matching css that holds `holding`; inside `wait`, a row
    re-rendered meanwhile is looked up again."""
    for row in driver.find_elements(By.CSS_SELECTOR, css):
        if holding in row.text:
            row.find_element(By.CSS_SELECTOR, target).click()
            return True
    return False


def row_text(driver, css: str, holding: str) -> str:
    """The text of the first element matching css that holds `holding` ("" while there is none)."""
    return next((r.text for r in driver.find_elements(By.CSS_SELECTOR, css) if holding in r.text), "")


def shot(driver, page: str) -> None:
    """console-<page>.png, reduced to a 128-colour palette (small files for the repository)."""
    from PIL import Image

    driver.execute_script("window.scrollTo(0, 0)")
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    SHOTS.mkdir(exist_ok=True)  # the temporary folder only once a page is shot
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(SHOTS / f"console-{page}.png", optimize=True)


def go(driver, tab: str) -> None:
    el(driver, f"#tab-{tab}").click()
    wait(driver, lambda d: visible(d, f"#page-{tab}"))


def sign_in(driver, key: str) -> None:
    box = el(driver, "#key-input")
    box.clear()
    box.send_keys(key)
    el(driver, "#signin-button").click()


def sign_out(driver) -> None:
    el(driver, "#signout").click()
    wait(driver, lambda d: visible(d, "#signin"))


def accept_confirm(driver) -> str:
    alert = wait(driver, lambda d: _alert(d), 10, "no confirmation asked")
    text = alert.text
    alert.accept()
    return text


def _alert(driver):
    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None


def page_errors(driver) -> list[str]:
    """Script errors and policy violations (a refused key's 401 in the network log is expected)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]


def test_sign_in_shows_the_tenant_and_role(console, browser, admin_key, settings):
    page = httpx.get(console, timeout=30)
    assert page.status_code == 200 and page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    browser.get(console)
    wait(browser, lambda d: visible(d, "#signin"))
    shot(browser, "signin")
    sign_in(browser, "rgw_" + "0" * 24 + "_not-a-key")
    wait(browser, lambda d: visible(d, "#signin-error"))
    assert "refused" in el(browser, "#signin-error").text
    sign_in(browser, admin_key)
    wait(browser, lambda d: visible(d, "#app"))
    assert el(browser, "#who-tenant").text == settings.default_tenant
    assert el(browser, "#who-role").text == "admin"
    assert all(visible(browser, f"#tab-{t}") for t in ("kbs", "upload", "documents", "chat", "search", "keys", "audit"))
    # The key is in this tab's session storage, never in the address or a cookie.
    assert admin_key not in browser.current_url and not browser.get_cookies()
    assert browser.execute_script("return sessionStorage.getItem('ragway.apiKey')") == admin_key
    assert browser.execute_script("return localStorage.getItem('ragway.apiKey')") is None


def test_create_a_kb(browser, state):
    go(browser, "kbs")
    name = f"console-{uuid.uuid4().hex[:6]}"
    el(browser, "#kb-name").send_keys(name)
    el(browser, "#kb-description").send_keys("Expense and leave rules (console test)")
    el(browser, "#kb-create button[type=submit]").click()
    wait(browser, lambda d: name in el(d, "#kb-table").text)
    assert Select(el(browser, "#kb-select")).first_selected_option.text == name
    state["kb"] = name


DROP = """
const [name, text] = arguments;
const transfer = new DataTransfer();
transfer.items.add(new File([text], name, {type: "text/plain"}));
document.getElementById("drop-zone").dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
"""


def test_upload_two_files_and_watch_the_job(browser, state, tmp_path):
    path = tmp_path / ENGLISH[0]
    path.write_text(ENGLISH[1], encoding="utf-8")
    go(browser, "upload")
    assert state["kb"] in el(browser, "#page-upload").text
    el(browser, "#file-input").send_keys(str(path))  # the file picker
    browser.execute_script(DROP, *CHINESE)  # dropped on the page
    wait(browser, lambda d: CHINESE[0] in el(d, "#chosen-files").text)
    assert ENGLISH[0] in el(browser, "#chosen-files").text and "2 files" in el(browser, "#chosen-files").text
    el(browser, "#upload-start").click()
    wait(browser, lambda d: visible(d, "#job-status"))
    status = wait(browser, lambda d: el(d, "#job-status").get_attribute("data-status") in ("done", "failed",
                                                                                           "cancelled")
                  and el(d, "#job-status").get_attribute("data-status"), 300, "the job did not finish")
    assert status == "done", el(browser, "#job-panel").text
    counts = el(browser, "#job-counts").text
    assert "2 of 2 files done, 0 failed" in counts and "chunks/s" in counts
    assert int(el(browser, "#job-progress").get_attribute("value")) == 2
    shot(browser, "upload")


def test_a_failed_file_shows_its_reason_and_can_be_retried(browser, tmp_path):
    """A broken PDF next to a zip archive whose member has a Chinese path: the archive is expanded,
    its member ingested; the PDF fails with its reason, and is retried."""
    broken = tmp_path / "损坏的报告.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not a PDF body\n")
    archive = tmp_path / "规章制度.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("规章/出差补贴.txt", "出差补贴：国内出差每天补贴一百五十元，海外出差每天补贴五十美元。\n")
    el(browser, "#file-input").send_keys(f"{broken}\n{archive}")
    el(browser, "#upload-start").click()
    wait(browser, lambda d: el(d, "#job-status").get_attribute("data-status") in ("done", "failed")
         and visible(d, "#failed-files"), 300, "the job did not end with a failed file")
    assert "1 of 2 files done, 1 failed" in el(browser, "#job-counts").text
    row = el(browser, "#failed-files tbody tr")
    name, reason, attempts = (td.text for td in row.find_elements(By.CSS_SELECTOR, "td"))
    assert name == broken.name and reason and attempts == "1"
    el(browser, "#job-retry").click()
    wait(browser, lambda d: el(d, "#failed-files tbody tr td:last-child").text == "2"
         and el(d, "#job-status").get_attribute("data-status") == "done", 300, "the retry did not run")


def test_a_job_is_followed_from_the_list_and_cancelled(browser, state, settings, admin_key):
    job_id = GatewayClient(settings.gateway_url, api_key=admin_key).open_job(state["kb"])["job_id"]  # still open
    go(browser, "kbs")
    go(browser, "upload")
    wait(browser, lambda d: job_id[:12] in el(d, "#job-list").text)
    wait(browser, lambda d: d.find_element(By.LINK_TEXT, job_id[:12]).click() or True)  # the list may re-render
    wait(browser, lambda d: job_id[:12] in el(d, "#job-panel").text and visible(d, "#job-cancel"))
    assert el(browser, "#job-status").get_attribute("data-status") in ("queued", "running")
    el(browser, "#job-cancel").click()
    wait(browser, lambda d: el(d, "#job-status").get_attribute("data-status") == "cancelled")
    assert not visible(browser, "#job-cancel")


def test_documents_and_their_chunks(browser, state):
    el(browser, "#job-panel a.button").click()  # "Show documents"
    wait(browser, lambda d: visible(d, "#doc-table") and CHINESE[0] in el(d, "#doc-table").text)
    assert ENGLISH[0] in el(browser, "#doc-table").text and "出差补贴.txt" in el(browser, "#doc-table").text
    wait(browser, lambda d: click_in_row(d, "#doc-table tbody tr", CHINESE[0], ".doc-chunks"))
    wait(browser, lambda d: visible(d, "#chunk-view .chunk-text"))
    assert "十二天带薪年假" in el(browser, "#chunk-view").text
    shot(browser, "documents")
    go(browser, "kbs")
    wait(browser, lambda d: row_cells(d, "#kb-table tbody tr", state["kb"])[2:3] == ["3"])
    assert int(row_cells(browser, "#kb-table tbody tr", state["kb"])[3]) >= 3
    shot(browser, "kbs")


def test_a_long_document_is_read_100_chunks_at_a_time(browser, state, settings, admin_key, tmp_path):
    long = tmp_path / "long-manual.txt"
    long.write_text("\n\n".join(f"Section {i}. " + f"Procedure step {i} of the maintenance manual. " * 8
                                  for i in range(130)), encoding="utf-8")
    client = GatewayClient(settings.gateway_url, api_key=admin_key)
    assert wait_for_job(client, client.upload(state["kb"], [long])["job_id"])["status"] == "done"
    go(browser, "kbs")
    go(browser, "documents")
    wait(browser, lambda d: "long-manual.txt" in el(d, "#doc-table").text)
    total = int(row_cells(browser, "#doc-table tbody tr", "long-manual")[1])
    assert total > 100
    wait(browser, lambda d: click_in_row(d, "#doc-table tbody tr", "long-manual", ".doc-chunks"))
    wait(browser, lambda d: el(d, "#chunk-range").text == f"chunks 1–100 of {total}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chunk-view .chunk")) == 100
    el(browser, "#chunk-view button[data-i18n=next]").click()
    wait(browser, lambda d: el(d, "#chunk-range").text == f"chunks 101–{total} of {total}")
    metas = browser.find_elements(By.CSS_SELECTOR, "#chunk-view .chunk-meta")
    indexes = [int(m.text.split()[0].lstrip("#")) for m in metas]
    assert indexes == list(range(100, total))
    doc_id = next(d["doc_id"] for d in client.documents(state["kb"]) if d["source"] == "long-manual.txt")
    client.delete_document(state["kb"], doc_id)


def test_chat_answers_with_a_citation_that_opens_its_chunk(browser, state):
    go(browser, "chat")
    el(browser, "#chat-input").send_keys("How many days after a business trip are expense reports due?", Keys.ENTER)
    wait(browser, lambda d: el(d, ".message.assistant").get_attribute("data-done"), LLM_TIMEOUT_S,
         "no answer")
    answer = el(browser, ".message.assistant")
    assert answer.get_attribute("data-done") == "true", answer.text
    assert "45" in answer.text, answer.text
    cites = answer.find_elements(By.CSS_SELECTOR, "button.cite")
    assert cites, f"no inline citation in {answer.text!r}"
    cites[0].click()
    wait(browser, lambda d: visible(d, "#citation-panel"))
    assert ENGLISH[0] in el(browser, "#citation-panel h3").text
    assert "within 45 days" in el(browser, "#citation-text").text
    # A follow-up is sent with the conversation, and searched for as a standalone question.
    el(browser, "#chat-input").send_keys("Who approves them?", Keys.ENTER)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".message.assistant[data-done]")) == 2,
         LLM_TIMEOUT_S, "no answer to the follow-up")
    follow_up = browser.find_elements(By.CSS_SELECTOR, ".message.assistant")[1]
    assert follow_up.get_attribute("data-done") == "true", follow_up.text
    assert follow_up.find_elements(By.CSS_SELECTOR, ".retrieval-query"), follow_up.text
    shot(browser, "chat")
    # A question the documents cannot answer (nothing passes the threshold) is shown as such.
    el(browser, "#chat-new").click()
    el(browser, ".options summary").click()
    el(browser, "#chat-threshold").send_keys("0.99")
    el(browser, "#chat-input").send_keys("What is the capital of Australia?", Keys.ENTER)
    wait(browser, lambda d: el(d, ".message.assistant").get_attribute("data-done"), LLM_TIMEOUT_S)
    declined = el(browser, ".message.assistant")
    assert declined.get_attribute("data-declined") == "true"
    assert "Not in the documents" in declined.find_element(By.CSS_SELECTOR, ".badge.declined").text
    el(browser, "#chat-threshold").clear()


def _search(browser, query: str, mode: str, expected_mode: str | None = None) -> list[str]:
    box = el(browser, "#search-query")
    box.clear()
    box.send_keys(query)
    Select(el(browser, "#search-mode")).select_by_value(mode)
    el(browser, "#search-submit").click()
    wait(browser, lambda d: el(d, "#search-results").get_attribute("data-mode") == (expected_mode or mode)
         and visible(d, "#search-timing .phase"))
    return [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#search-results .hit-source")]


def test_search_in_two_modes_with_phase_timings(browser, state):
    go(browser, "search")
    sources = _search(browser, "年假", "bm25")
    assert sources and sources[0] == CHINESE[0]
    phases = {p.get_attribute("data-phase") for p in browser.find_elements(By.CSS_SELECTOR, "#search-timing .phase")}
    assert {"bm25", "total", "browser"} <= phases, phases
    sources = _search(browser, "When are expense reports due?", "dense")
    assert sources[0] == ENGLISH[0]
    phases = {p.get_attribute("data-phase") for p in browser.find_elements(By.CSS_SELECTOR, "#search-timing .phase")}
    assert {"embed", "milvus", "total"} <= phases, phases
    # Left at "server default", the page sends neither mode nor top-k: the gateway's defaults apply.
    defaults = get_settings()
    sources = _search(browser, "When are expense reports due?", "", expected_mode=defaults.retrieval_mode)
    assert sources[0] == ENGLISH[0] and len(sources) <= defaults.top_k
    # The metadata filter narrows the hits to one source.
    el(browser, "#search-filter").send_keys(f'{{"source": "{CHINESE[0]}"}}')
    assert set(_search(browser, "When are expense reports due?", "hybrid")) == {CHINESE[0]}
    shot(browser, "search")


def test_a_text_kept_in_two_files_is_one_hit_naming_the_other(browser, state, settings, admin_key, tmp_path):
    copy = tmp_path / "expense-policy (copy).md"
    copy.write_text(ENGLISH[1], encoding="utf-8")
    client = GatewayClient(settings.gateway_url, api_key=admin_key)
    assert wait_for_job(client, client.upload(state["kb"], [copy])["job_id"])["status"] == "done"
    try:
        go(browser, "search")
        el(browser, "#search-filter").clear()  # the previous test's filter
        sources = _search(browser, "When are expense reports due?", "hybrid")
        assert sources.count(ENGLISH[0]) + sources.count(copy.name) == 1, sources
        also = el(browser, "#search-results .hit .also-in").text
        assert also == f"also in {copy.name if sources[0] == ENGLISH[0] else ENGLISH[0]}", also
    finally:
        doc_id = next(d["doc_id"] for d in client.documents(state["kb"]) if d["source"] == copy.name)
        client.delete_document(state["kb"], doc_id)


def test_chinese_ui(browser):
    el(browser, "#lang-toggle").click()
    wait(browser, lambda d: el(d, "#tab-kbs").text == "知识库")
    assert el(browser, "#search-submit").text == "检索"
    assert el(browser, "#who-role").text == "管理员"
    go(browser, "documents")
    wait(browser, lambda d: visible(d, "#doc-table") and "导入时间" in el(d, "#doc-table").text)
    shot(browser, "documents-zh")
    el(browser, "#lang-toggle").click()
    wait(browser, lambda d: el(d, "#tab-kbs").text == "Knowledge bases")


def test_keys_roles_and_revocation(browser, admin_key, keys, settings, state):
    go(browser, "keys")
    el(browser, "#key-name").send_keys(READER_NAME)
    Select(el(browser, "#key-role")).select_by_value("reader")
    el(browser, "#key-create button[type=submit]").click()
    wait(browser, lambda d: visible(d, "#new-key"))
    reader_key = el(browser, "#new-key").get_attribute("value")
    assert reader_key.startswith("rgw_")
    wait(browser, lambda d: READER_NAME in el(d, "#key-table").text)
    # The picture must not hold a working key: the secret part is masked for it.
    browser.execute_script("const k = document.getElementById('new-key');"
                           "k.value = k.value.replace(/^(rgw_[0-9a-f]+_).*$/, '$1' + '•'.repeat(24));")
    shot(browser, "keys")
    el(browser, "#new-key-done").click()
    assert not visible(browser, "#new-key")  # shown once
    go(browser, "audit")
    wait(browser, lambda d: visible(d, "#audit-table"))
    actions = {a.text for a in browser.find_elements(By.CSS_SELECTOR, "#audit-table .audit-action")}
    assert {"key.create", "kb.create", "job.create"} <= actions, actions
    shot(browser, "audit")

    # A reader sees no admin or writer controls, and the gateway would refuse them anyway.
    sign_out(browser)
    sign_in(browser, reader_key)
    wait(browser, lambda d: visible(d, "#app"))
    assert el(browser, "#who-role").text == "reader"
    for tab in ("upload", "keys", "audit"):
        assert not visible(browser, f"#tab-{tab}")
    go(browser, "kbs")
    wait(browser, lambda d: state["kb"] in el(d, "#kb-table").text)
    assert not visible(browser, "#kb-create") and not browser.find_elements(By.CSS_SELECTOR, ".kb-delete")
    browser.get(browser.current_url.split("#")[0] + "#keys")  # typed into the address bar
    wait(browser, lambda d: visible(d, "#page-kbs"))
    status = browser.execute_async_script(
        "fetch('/v1/keys', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('ragway.apiKey')}})"
        ".then(r => arguments[0](r.status))")
    assert status == 403

    # The admin revokes it in the console; the page refuses it from then on.
    sign_out(browser)
    sign_in(browser, admin_key)
    wait(browser, lambda d: visible(d, "#app"))
    go(browser, "keys")
    wait(browser, lambda d: READER_NAME in el(d, "#key-table").text)
    wait(browser, lambda d: click_in_row(d, "#key-table tbody tr", READER_NAME, ".key-revoke"))
    assert READER_NAME in accept_confirm(browser)
    wait(browser, lambda d: "revoked" in el(d, "#notice").text and READER_NAME not in el(d, "#key-table").text)
    el(browser, "#keys-show-revoked").click()
    wait(browser, lambda d: "revoked" in row_text(d, "#key-table tbody tr", READER_NAME))
    sign_out(browser)
    sign_in(browser, reader_key)
    wait(browser, lambda d: visible(d, "#signin-error"))
    assert "refused" in el(browser, "#signin-error").text and "revoked" in el(browser, "#signin-error").text.lower()
    assert not visible(browser, "#app")

    # A key revoked while its page is open: the next request signs the page out.
    record, token = keys.create(settings.default_tenant, Role.writer, name="console writer")
    sign_in(browser, token)
    wait(browser, lambda d: visible(d, "#app") and visible(d, "#tab-upload"))
    # The first page's requests done (the documents counted), so the next request is the click's.
    wait(browser, lambda d: visible(d, "#kb-table") and "…" not in el(d, "#kb-table").text)
    keys.revoke(settings.default_tenant, record.key_id)
    with contextlib.suppress(ElementNotInteractableException):  # else a request of the page's own met it first
        el(browser, "#tab-documents").click()
    wait(browser, lambda d: visible(d, "#signin-error"))
    assert browser.execute_script("return sessionStorage.getItem('ragway.apiKey')") is None


def test_no_script_errors_or_policy_violations(browser):
    assert page_errors(browser) == []


def test_delete_the_kb(browser, admin_key, state):
    sign_in(browser, admin_key)
    wait(browser, lambda d: visible(d, "#app"))
    go(browser, "kbs")
    wait(browser, lambda d: state["kb"] in el(d, "#kb-table").text)
    browser.find_element(By.CSS_SELECTOR, f'.kb-delete[data-kb="{state["kb"]}"]').click()
    accept_confirm(browser)
    wait(browser, lambda d: "deleted" in el(d, "#notice").text, 60)
    assert not browser.find_elements(By.CSS_SELECTOR, f'.kb-delete[data-kb="{state["kb"]}"]')
