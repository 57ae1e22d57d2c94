// The documents of the current kb with chunk counts and ingestion time; delete (writer); a
// document's chunks (read through the public search API, filtered to the document).
import { del, enc, get, post } from "../api.js";
import { append, clear, fill, formatTime, h, table } from "../dom.js";
import { t } from "../i18n.js";

export const id = "documents";
export const role = "reader";
const PAGE = 100;
const CHUNKS_PER_VIEW = 100; // the search API's top_k limit
let els;
let offset = 0;

export function mount(section, ctx) {
  els = {
    title: h("h2", {}),
    list: h("div", { id: "doc-list" }),
    pager: h("div", { class: "row" }),
    chunks: h("div", { id: "chunk-view", class: "card", hidden: true }),
  };
  section.append(els.title, els.list, els.pager, els.chunks);
}

function renderTitle(ctx) {
  fill(els.title, h("span", { i18n: "tab.documents" }), " · ", h("span", { text: ctx.kb || "—" }));
}

export async function show(ctx) {
  renderTitle(ctx);
  clear(els.list);
  clear(els.pager);
  if (!ctx.kb) {
    append(els.list, h("p", { class: "muted", i18n: "kb.noneHelp" }));
    return;
  }
  const kb = ctx.kb;
  const docs = await get(`/v1/kbs/${enc(kb)}/documents?limit=${PAGE}&offset=${offset}`);
  if (kb !== ctx.kb) return;
  if (!docs.length && !offset) {
    append(els.list, h("p", { class: "muted", i18n: "documents.empty" }));
    return;
  }
  append(els.list, table([
    { i18n: "documents.source", cell: (d) => h("span", { class: "doc-source", text: d.source }) },
    { i18n: "kbs.chunks", class: "num", cell: (d) => String(d.chunks) },
    { i18n: "documents.ingested", cell: (d) => formatTime(d.created_at / 1000) },
    { i18n: "documents.id", cell: (d) => h("code", { text: d.doc_id.slice(0, 12), title: d.doc_id }) },
    { i18n: "actions", cell: (d) => [
      h("button", { type: "button", class: "secondary small doc-chunks", i18n: "documents.viewChunks",
        onclick: () => viewChunks(ctx, kb, d) }),
      ctx.allows("writer") && h("button", { type: "button", class: "danger small doc-delete", i18n: "delete",
        onclick: () => remove(ctx, kb, d) }),
    ] },
  ], docs, { class: "grid", id: "doc-table" }));
  if (offset) append(els.pager, h("button", { type: "button", class: "secondary", i18n: "previous",
    onclick: () => { offset = Math.max(0, offset - PAGE); show(ctx).catch((e) => ctx.notify(e)); } }));
  if (docs.length === PAGE) append(els.pager, h("button", { type: "button", class: "secondary", i18n: "next",
    onclick: () => { offset += PAGE; show(ctx).catch((e) => ctx.notify(e)); } }));
}

// A document's chunks, 100 at a time (the search API's top_k limit): a dense search filtered to the
// document and a chunk_index window returns exactly that window's chunks, whatever the query.
async function viewChunks(ctx, kb, doc, from = 0) {
  els.chunks.hidden = false;
  fill(els.chunks, h("p", { class: "muted", text: "…" }));
  try {
    const result = await post("/v1/search", { kb, query: doc.source, mode: "dense", score_threshold: -1,
      top_k: CHUNKS_PER_VIEW, filter: { doc_id: doc.doc_id, chunk_index: { gte: from, lt: from + CHUNKS_PER_VIEW } } });
    const hits = result.hits.sort((a, b) => a.chunk_index - b.chunk_index);
    const pages = [...new Set(hits.map((hit) => hit.page).filter(Boolean))].sort((a, b) => a - b);
    const pager = h("div", { class: "row" },
      from > 0 ? h("button", { type: "button", class: "secondary small", i18n: "previous",
        onclick: () => viewChunks(ctx, kb, doc, Math.max(0, from - CHUNKS_PER_VIEW)) }) : null,
      from + CHUNKS_PER_VIEW < doc.chunks ? h("button", { type: "button", class: "secondary small", i18n: "next",
        onclick: () => viewChunks(ctx, kb, doc, from + CHUNKS_PER_VIEW) }) : null);
    fill(els.chunks,
      h("div", { class: "row spread" },
        h("h3", {}, h("span", { i18n: "documents.chunksOf" }), " ", h("span", { text: doc.source })),
        h("button", { type: "button", class: "secondary small", i18n: "close",
          onclick: () => { els.chunks.hidden = true; } })),
      h("p", { class: "muted" },
        h("span", { id: "chunk-range", i18n: "documents.range",
          i18nArgs: { first: from + 1, last: from + hits.length, total: doc.chunks } }),
        pages.length ? [" · ", h("span", { i18n: "documents.pages",
          i18nArgs: { pages: pages.length === 1 ? pages[0] : `${pages[0]}–${pages.at(-1)}` } })] : null),
      h("ol", { class: "chunks" }, hits.map((hit) => h("li", { class: "chunk" },
        h("div", { class: "chunk-meta" }, h("span", { text: `#${hit.chunk_index}` }),
          hit.page ? h("span", { i18n: "page", i18nArgs: { page: hit.page } }) : null),
        h("div", { class: "chunk-text", text: hit.text })))),
      pager,
    );
    els.chunks.scrollIntoView({ block: "nearest" });
  } catch (exc) {
    els.chunks.hidden = true;
    ctx.notify(exc);
  }
}

async function remove(ctx, kb, doc) {
  if (!window.confirm(t("documents.confirmDelete", { source: doc.source }))) return;
  try {
    await del(`/v1/kbs/${enc(kb)}/documents/${enc(doc.doc_id)}`);
    els.chunks.hidden = true;
    await show(ctx);
    ctx.notify({ key: "documents.deleted", args: { source: doc.source } }, "ok");
  } catch (exc) {
    ctx.notify(exc);
  }
}

export function kbChanged(ctx) {
  offset = 0;
  if (els) {
    els.chunks.hidden = true;
    if (location.hash === "#documents") show(ctx).catch((e) => ctx.notify(e));
  }
}

export function reset() {
  offset = 0;
  if (els) {
    clear(els.list);
    els.chunks.hidden = true;
  }
}
