// Upload files, folders and zip/tar archives (picker or drag and drop) to the current kb, in
// batches like `ragway ingest`: one open job, files added batch by batch, then sealed. The job's
// progress is polled: files done/failed/total, chunks/s, ETA, failed files with their reason;
// cancel and retry.
import { call, enc, get, post } from "../api.js";
import { append, clear, fill, formatBytes, formatDuration, formatTime, h, setText, table } from "../dom.js";

export const id = "upload";
export const role = "writer";
const BATCH_FILES = 50;
const BATCH_BYTES = 32 * 1024 * 1024;
const FINAL = new Set(["done", "failed", "cancelled"]);
const POLL_MS = 1000;

let chosen = []; // [{file, name}]
let els;
let followed = null; // job id
let timer = null;

export function mount(section, ctx) {
  const filesInput = h("input", { id: "file-input", type: "file", multiple: true, class: "visually-hidden" });
  const folderInput = h("input", { id: "folder-input", type: "file", multiple: true, webkitdirectory: true,
    class: "visually-hidden" });
  filesInput.addEventListener("change", () => { add(fromInput(filesInput)); filesInput.value = ""; });
  folderInput.addEventListener("change", () => { add(fromInput(folderInput)); folderInput.value = ""; });
  const drop = h("div", { id: "drop-zone", class: "drop-zone", tabindex: 0 },
    h("p", { i18n: "upload.drop" }),
    h("div", { class: "row center" },
      h("button", { type: "button", class: "secondary", i18n: "upload.pickFiles", onclick: () => filesInput.click() }),
      h("button", { type: "button", class: "secondary", i18n: "upload.pickFolder", onclick: () => folderInput.click() })),
    h("p", { class: "muted small", i18n: "upload.formats" }), filesInput, folderInput);
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    try {
      add(await fromDrop(event.dataTransfer));
    } catch (exc) {
      ctx.notify(exc);
    }
  });
  els = {
    target: h("p", { class: "muted" }),
    chosen: h("div", { id: "chosen-files" }),
    start: h("button", { id: "upload-start", type: "button", i18n: "upload.start", disabled: true,
      onclick: () => start(ctx) }),
    clearButton: h("button", { type: "button", class: "secondary", i18n: "upload.clear", onclick: () => { chosen = []; renderChosen(); } }),
    sending: h("p", { id: "upload-sending", class: "muted" }),
    job: h("div", { id: "job-panel", class: "card", hidden: true }),
    jobs: h("div", { id: "job-list" }),
  };
  section.append(h("h2", { i18n: "tab.upload" }), els.target, drop, els.chosen,
    h("div", { class: "row" }, els.start, els.clearButton), els.sending, els.job,
    h("h3", { i18n: "upload.recent" }), els.jobs);
}

function fromInput(input) {
  return [...input.files].map((file) => ({ file, name: file.webkitRelativePath || file.name }));
}

// Files and folders dropped: folders are walked (their files keep their relative paths).
async function fromDrop(transfer) {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...transfer.files].map((file) => ({ file, name: file.name }));
  const out = [];
  async function walk(entry) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, name: entry.fullPath.replace(/^\//, "") });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const entry of entries) await walk(entry);
  return out;
}

function add(files) {
  const names = new Set(chosen.map((c) => c.name));
  for (const f of files) if (!names.has(f.name)) { chosen.push(f); names.add(f.name); }
  renderChosen();
}

function renderChosen() {
  clear(els.chosen);
  els.start.disabled = !chosen.length;
  if (!chosen.length) return;
  const total = chosen.reduce((sum, c) => sum + c.file.size, 0);
  append(els.chosen, h("p", { i18n: "upload.chosen", i18nArgs: { n: chosen.length, size: formatBytes(total) } }),
    h("ul", { class: "file-list" }, chosen.slice(0, 200).map((c) => h("li", {}, h("span", { text: c.name }),
      h("span", { class: "muted", text: ` ${formatBytes(c.file.size)}` })))),
    chosen.length > 200 ? h("p", { class: "muted", text: `… +${chosen.length - 200}` }) : null);
}

function batches(files) {
  const out = [];
  let batch = [];
  let size = 0;
  for (const f of files) {
    if (batch.length && (batch.length >= BATCH_FILES || size + f.file.size > BATCH_BYTES)) {
      out.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(f);
    size += f.file.size;
  }
  if (batch.length) out.push(batch);
  return out;
}

async function start(ctx) {
  const kb = ctx.kb;
  if (!kb) return ctx.notify({ key: "kb.noneHelp" });
  if (!chosen.length) return;
  const files = chosen;
  chosen = [];
  renderChosen();
  els.start.disabled = true;
  const refused = [];
  let job;
  try {
    job = await post("/v1/jobs", { kb });
    follow(ctx, job.job_id);
    const parts = batches(files);
    for (const [i, batch] of parts.entries()) {
      setText(els.sending, "upload.sending", { i: i + 1, n: parts.length });
      const form = new FormData();
      for (const f of batch) form.append("files", f.file, f.name);
      const added = await (await call("POST", `/v1/jobs/${enc(job.job_id)}/files`, { form })).json();
      refused.push(...added.refused);
      poll(ctx);
    }
    await post(`/v1/jobs/${enc(job.job_id)}/seal`);
    setText(els.sending, refused.length ? "upload.sentRefused" : "upload.sent",
      { n: files.length, refused: refused.length });
  } catch (exc) {
    ctx.notify(exc);
    els.sending.textContent = "";
    if (job) await post(`/v1/jobs/${enc(job.job_id)}/seal`).catch(() => {});
  }
  poll(ctx);
}

function follow(ctx, jobId) {
  followed = jobId;
  seen = { jobId: null, failed: -1, files: [] };
  els.job.hidden = false;
  fill(els.job, h("p", { class: "muted", text: "…" }));
  poll(ctx);
}

// The job's counts every second; its per-file list (which holds every file of a large job) only
// when the number of failed files changed, and once at the end.
let seen = { jobId: null, failed: -1, files: [] };

async function poll(ctx) {
  clearTimeout(timer);
  if (!followed) return;
  const jobId = followed;
  try {
    let job = await get(`/v1/jobs/${enc(jobId)}?files=false`);
    if (seen.jobId !== jobId) seen = { jobId, failed: -1, files: [] };
    const final = FINAL.has(job.status) && job.sealed;
    if (final || (job.counts.failed || 0) !== seen.failed) {
      job = await get(`/v1/jobs/${enc(jobId)}`);
      seen.failed = job.counts.failed || 0;
      seen.files = job.files;
    }
    if (jobId !== followed) return;
    const shown = { ...job, files: job.files?.length ? job.files : seen.files };
    // Re-drawn when something changed (not every second: buttons would flicker under the pointer).
    const signature = JSON.stringify([jobId, job.status, job.sealed, job.counts, job.chunks, job.reason,
      shown.files.map((f) => [f.status, f.attempts])]);
    if (signature !== seen.signature) {
      seen.signature = signature;
      renderJob(ctx, shown);
    }
    if (!FINAL.has(job.status) || !job.sealed) timer = setTimeout(() => poll(ctx), POLL_MS);
    else listJobs(ctx);
  } catch (exc) {
    ctx.notify(exc);
  }
}

function renderJob(ctx, job) {
  const c = job.counts || {};
  const finished = (c.done || 0) + (c.skipped || 0) + (c.failed || 0) + (c.cancelled || 0);
  const final = FINAL.has(job.status) && job.sealed;
  // A finished job's rate and time are measured to its last file, not to now.
  const lastUpdate = (job.files || []).reduce((last, f) => Math.max(last, f.updated_at || 0), 0);
  const end = final && lastUpdate ? lastUpdate : Date.now() / 1000;
  const elapsed = job.started_at ? Math.max(end - job.started_at, 0) : 0;
  const rate = elapsed > 0 ? job.chunks / elapsed : 0;
  const eta = finished && job.total > finished && elapsed > 0 ? (elapsed / finished) * (job.total - finished) : NaN;
  const failed = (job.files || []).filter((f) => f.status === "failed");
  fill(els.job, 
    h("div", { class: "row spread" },
      h("h3", {}, h("span", { i18n: "upload.job" }), " ", h("code", { text: job.job_id.slice(0, 12) }), " → ",
        h("b", { text: job.kb })),
      h("span", { id: "job-status", class: `status ${job.status}`, dataset: { status: job.status },
        i18n: `status.${job.status}` })),
    h("progress", { id: "job-progress", max: Math.max(job.total, 1), value: finished }),
    h("p", { id: "job-counts" },
      h("span", { i18n: "upload.counts", i18nArgs: { done: (c.done || 0) + (c.skipped || 0), failed: c.failed || 0,
        total: job.total, cancelled: c.cancelled || 0 } }),
      " · ", h("span", { i18n: "upload.chunks", i18nArgs: { chunks: job.chunks } }),
      " · ", h("span", { i18n: "upload.rate", i18nArgs: { rate: rate.toFixed(1) } }),
      final ? [" · ", h("span", { i18n: "upload.took", i18nArgs: { time: formatDuration(elapsed) } })]
        : [" · ", h("span", { i18n: "upload.eta", i18nArgs: { eta: formatDuration(eta) } })]),
    !job.sealed ? h("p", { class: "muted", i18n: "upload.open" }) : null,
    job.reason ? h("p", { class: "notice error", text: job.reason }) : null,
    h("div", { class: "row" },
      !final ? h("button", { id: "job-cancel", type: "button", class: "danger", i18n: "upload.cancel",
        onclick: () => act(ctx, job.job_id, "cancel") }) : null,
      c.failed ? h("button", { id: "job-retry", type: "button", class: "secondary", i18n: "upload.retry",
        onclick: () => act(ctx, job.job_id, "retry") }) : null,
      final ? h("a", { href: "#documents", class: "button secondary", i18n: "upload.toDocuments",
        onclick: () => ctx.selectKb(job.kb) }) : null),
    failed.length ? h("h4", { i18n: "upload.failedFiles" }) : null,
    failed.length ? table([
      { i18n: "file", cell: (f) => f.name },
      { i18n: "upload.reason", cell: (f) => f.error || "" },
      { i18n: "upload.attempts", class: "num", cell: (f) => String(f.attempts) },
    ], failed, { class: "grid", id: "failed-files" }) : null,
  );
}

async function act(ctx, jobId, action) {
  try {
    await post(`/v1/jobs/${enc(jobId)}/${action}`);
    follow(ctx, jobId);
  } catch (exc) {
    ctx.notify(exc);
  }
}

async function listJobs(ctx) {
  try {
    const jobs = await get("/v1/jobs?limit=10");
    fill(els.jobs, jobs.length ? table([
      { i18n: "upload.job", cell: (j) => h("a", { href: "#upload", text: j.job_id.slice(0, 12),
        onclick: (event) => { event.preventDefault(); follow(ctx, j.job_id); } }) },
      { i18n: "kb.current", cell: (j) => j.kb },
      { i18n: "upload.status", cell: (j) => h("span", { class: `status ${j.status}`, i18n: `status.${j.status}` }) },
      { i18n: "upload.files", class: "num", cell: (j) => `${(j.counts.done || 0) + (j.counts.skipped || 0)}/${j.total}` },
      { i18n: "kbs.chunks", class: "num", cell: (j) => String(j.chunks) },
      { i18n: "kbs.created", cell: (j) => formatTime(j.created_at) },
    ], jobs, { class: "grid" }) : h("p", { class: "muted", i18n: "upload.noJobs" }));
  } catch (exc) {
    ctx.notify(exc);
  }
}

export function kbChanged(ctx) {
  if (els) setText(els.target, ctx.kb ? "upload.target" : "kb.noneHelp", { kb: ctx.kb });
}

export function show(ctx) {
  kbChanged(ctx);
  renderChosen();
  if (followed) poll(ctx);
  return listJobs(ctx);
}

export function reset() {
  chosen = [];
  followed = null;
  clearTimeout(timer);
  if (els) {
    clear(els.job).hidden = true;
    clear(els.jobs);
    els.sending.textContent = "";
  }
}
