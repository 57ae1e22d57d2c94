// Search playground: query, mode, top-k, threshold and a metadata filter on the current kb; hits
// with their scores, and the phases the gateway reports in its Server-Timing header. Mode and top-k
// left at "server default" are not sent, so the page searches as every other client does.
import { call, serverTiming } from "../api.js";
import { alsoIn, append, clear, fill, h } from "../dom.js";

export const id = "search";
export const role = "reader";
const MODES = ["hybrid", "dense", "bm25", "mmr"];
let els;

export function mount(section, ctx) {
  els = {
    title: h("h2", {}),
    query: h("input", { id: "search-query", type: "search", required: true, i18nPlaceholder: "search.placeholder" }),
    mode: h("select", { id: "search-mode" }, h("option", { value: "", i18n: "mode.default" }),
      MODES.map((m) => h("option", { value: m, i18n: `mode.${m}` }))),
    topK: h("input", { id: "search-top-k", type: "number", min: 1, max: 100, value: "",
      i18nPlaceholder: "search.topKDefault" }),
    threshold: h("input", { id: "search-threshold", type: "number", min: -1, max: 1, step: 0.05, value: "",
      i18nPlaceholder: "none" }),
    filter: h("textarea", { id: "search-filter", rows: 2, spellcheck: "false",
      placeholder: '{"source": "handbook.pdf", "page": {"gte": 2}}' }),
    timing: h("p", { id: "search-timing", class: "timing" }),
    results: h("div", { id: "search-results" }),
  };
  const form = h("form", { id: "search-form", class: "search-form" },
    h("div", { class: "row" }, els.query, h("button", { id: "search-submit", type: "submit", i18n: "search.submit" })),
    h("div", { class: "row wrap" },
      h("label", {}, h("span", { i18n: "search.mode" }), els.mode),
      h("label", {}, h("span", { i18n: "search.topK" }), els.topK),
      h("label", {}, h("span", { i18n: "search.threshold" }), els.threshold)),
    h("label", { class: "block" }, h("span", { i18n: "search.filter" }), els.filter),
    h("p", { class: "muted small", i18n: "search.filterHelp" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(ctx);
  });
  section.append(els.title, form, els.timing, els.results);
}

async function run(ctx) {
  if (!ctx.kb) return ctx.notify({ key: "kb.noneHelp" });
  const body = { kb: ctx.kb, query: els.query.value };
  if (els.mode.value) body.mode = els.mode.value;
  if (els.topK.value) body.top_k = Number(els.topK.value);
  if (els.threshold.value !== "") body.score_threshold = Number(els.threshold.value);
  if (els.filter.value.trim()) {
    try {
      body.filter = JSON.parse(els.filter.value);
    } catch (exc) {
      return ctx.notify(new Error(`filter: ${exc.message}`));
    }
  }
  ctx.clearNotice();
  fill(els.results, h("p", { class: "muted", text: "…" }));
  clear(els.timing);
  const started = performance.now();
  try {
    const response = await call("POST", "/v1/search", { json: body });
    const result = await response.json();
    const roundTrip = performance.now() - started;
    append(els.timing, h("span", { i18n: "search.timing" }), " ",
      serverTiming(response).map((p) => h("span", { class: "phase", dataset: { phase: p.name },
        text: `${p.name} ${p.ms.toFixed(1)} ms` })),
      h("span", { class: "phase", dataset: { phase: "browser" }, i18n: "search.roundTrip",
        i18nArgs: { ms: roundTrip.toFixed(1) } }));
    // Every hit names the mode that found it: the server's default when none was asked for.
    render(result.hits, result.hits[0]?.metadata?.retrieval?.mode || body.mode || "");
  } catch (exc) {
    clear(els.results);
    ctx.notify(exc);
  }
}

function render(hits, mode) {
  clear(els.results);
  els.results.dataset.mode = mode;
  if (!hits.length) {
    append(els.results, h("p", { class: "muted", i18n: "search.noHits" }));
    return;
  }
  append(els.results, h("p", { class: "muted", i18n: "search.hits", i18nArgs: { n: hits.length, mode } }),
    h("ol", { class: "hits" }, hits.map((hit) => {
      const dense = hit.metadata?.retrieval?.dense;
      const text = h("div", { class: "chunk-text clamp", text: hit.text, i18nTitle: "search.expand" });
      text.addEventListener("click", () => text.classList.toggle("clamp"));
      return h("li", { class: "hit" },
        h("div", { class: "chunk-meta" },
          h("b", { class: "hit-score", text: hit.score.toFixed(4) }),
          typeof dense === "number" && mode !== "dense" && mode !== "mmr"
            ? h("span", { i18n: "search.cosine", i18nArgs: { score: dense.toFixed(4) } }) : null,
          h("span", { class: "hit-source", text: hit.source }),
          alsoIn(hit),
          hit.page ? h("span", { i18n: "page", i18nArgs: { page: hit.page } }) : null,
          h("span", { i18n: "chunkIndex", i18nArgs: { i: hit.chunk_index } })),
        text);
    })));
}

function renderTitle(ctx) {
  fill(els.title, h("span", { i18n: "tab.search" }), " · ", h("span", { text: ctx.kb || "—" }));
}

export function show(ctx) {
  renderTitle(ctx);
  els.query.focus();
}

export function kbChanged(ctx) {
  if (els) {
    renderTitle(ctx);
    clear(els.results);
    clear(els.timing);
  }
}

export function reset() {
  if (els) {
    clear(els.results);
    clear(els.timing);
    els.query.value = "";
  }
}
