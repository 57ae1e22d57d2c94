// Chat with the current kb through the OpenAI-compatible endpoint (model `kb:<name>`), streaming.
// Answers show their inline citations [n] as buttons that open the cited chunk (text, source,
// page); the conversation is sent again with each question, so follow-ups are understood; an
// answer the documents do not hold is shown as such.
import { call, events } from "../api.js";
import { alsoIn, append, clear, fill, h } from "../dom.js";

export const id = "chat";
export const role = "reader";
const HISTORY_MESSAGES = 20; // sent with each question (the gateway condenses the recent ones)
let els;
let history = []; // [{role, content}]
let kbOfHistory = "";
let running = null; // AbortController

export function mount(section, ctx) {
  const input = h("textarea", { id: "chat-input", rows: 2, i18nPlaceholder: "chat.placeholder" });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send(ctx);
    }
  });
  els = {
    title: h("h2", {}),
    log: h("div", { id: "chat-log", class: "chat-log", "aria-live": "polite" }),
    input,
    send: h("button", { id: "chat-send", type: "button", i18n: "chat.send", onclick: () => send(ctx) }),
    stop: h("button", { id: "chat-stop", type: "button", class: "secondary", i18n: "chat.stop", hidden: true,
      onclick: () => running?.abort() }),
    topK: h("input", { id: "chat-top-k", type: "number", min: 1, max: 100, value: "" , i18nPlaceholder: "default" }),
    threshold: h("input", { id: "chat-threshold", type: "number", min: -1, max: 1, step: 0.05, value: "",
      i18nPlaceholder: "default" }),
    citation: h("aside", { id: "citation-panel", class: "card citation", hidden: true }),
  };
  const options = h("details", { class: "options" }, h("summary", { i18n: "chat.options" }),
    h("label", {}, h("span", { i18n: "search.topK" }), els.topK),
    h("label", {}, h("span", { i18n: "search.threshold" }), els.threshold));
  section.append(
    h("div", { class: "row spread" }, els.title,
      h("button", { id: "chat-new", type: "button", class: "secondary", i18n: "chat.new", onclick: () => newChat(ctx) })),
    h("div", { class: "chat-layout" },
      h("div", { class: "chat-main" }, els.log,
        h("div", { class: "chat-compose" }, input, h("div", { class: "column" }, els.send, els.stop)), options),
      els.citation));
}

function renderTitle(ctx) {
  fill(els.title, h("span", { i18n: "tab.chat" }), " · ", h("span", { text: ctx.kb || "—" }));
}

function newChat(ctx) {
  running?.abort();
  history = [];
  kbOfHistory = ctx.kb;
  fill(els.log, h("p", { class: "muted", i18n: ctx.kb ? "chat.hint" : "kb.noneHelp" }));
  els.citation.hidden = true;
}

function bubble(roleName, ...children) {
  const el = h("div", { class: `message ${roleName}` }, ...children);
  els.log.append(el);
  els.log.scrollTop = els.log.scrollHeight;
  return el;
}

// The answer text with each [n] (also [1, 2] and [1][2]) turned into a button opening source n.
function answerNodes(text, sources, cited) {
  const nodes = [];
  const pattern = /\[(\d+(?:\s*[,，]\s*\d+)*)\]/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const numbers = match[1].split(/[,，]/).map((n) => Number(n.trim()));
    if (!numbers.every((n) => n >= 1 && n <= sources.length)) continue;
    nodes.push(document.createTextNode(text.slice(last, match.index)));
    for (const n of numbers) {
      nodes.push(h("button", { type: "button", class: "cite", text: `[${n}]`, dataset: { n },
        onclick: () => openSource(n, sources[n - 1]) }));
      cited.add(n);
    }
    last = match.index + match[0].length;
  }
  nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function openSource(n, source) {
  fill(els.citation, 
    h("div", { class: "row spread" }, h("h3", { text: `[${n}] ${source.source}` }),
      h("button", { type: "button", class: "secondary small", i18n: "close", onclick: () => { els.citation.hidden = true; } })),
    h("p", { class: "chunk-meta" },
      source.page ? h("span", { id: "citation-page", i18n: "page", i18nArgs: { page: source.page } }) : null,
      h("span", { i18n: "chunkIndex", i18nArgs: { i: source.chunk_index } }),
      h("span", { i18n: "score", i18nArgs: { score: source.score.toFixed(3) } }),
      alsoIn(source, { id: "citation-also-in" })),
    h("div", { id: "citation-text", class: "chunk-text", text: source.text }));
  els.citation.hidden = false;
}

function renderAnswer(body, text, final, question) {
  const sources = final?.sources || [];
  const cited = new Set();
  const content = h("div", { class: "answer-text" }, final ? answerNodes(text, sources, cited) : text);
  const parts = [content];
  if (final?.declined) parts.unshift(h("span", { class: "badge declined", i18n: "chat.declined" }));
  else if (final && final.grounded === false) {
    parts.push(h("p", { class: "badge unsupported", i18n: "chat.unsupported",
      i18nArgs: { parts: (final.unsupported || []).join(", ") } }));
  }
  if (final?.retrieval_query && final.retrieval_query.trim() !== question.trim()) {
    // A follow-up, condensed with the conversation into the question that was searched for.
    parts.push(h("p", { class: "muted small retrieval-query", i18n: "chat.searchedFor",
      i18nArgs: { query: final.retrieval_query } }));
  }
  if (sources.length) {
    parts.push(h("details", { class: "sources" },
      h("summary", { i18n: "chat.sources", i18nArgs: { n: sources.length } }),
      h("ol", {}, sources.map((s, i) => h("li", { class: cited.has(i + 1) ? "cited" : "" },
        h("button", { type: "button", class: "link source-link", text: s.source, onclick: () => openSource(i + 1, s) }),
        s.page ? h("span", { class: "muted", i18n: "page", i18nArgs: { page: s.page } }) : null,
        alsoIn(s, { class: "also-in muted" }))))));
  }
  fill(body, ...parts);
}

async function send(ctx) {
  const question = els.input.value.trim();
  if (!ctx.kb) return ctx.notify({ key: "kb.noneHelp" });
  if (!question || running) return;
  if (kbOfHistory !== ctx.kb) newChat(ctx);
  if (!history.length) clear(els.log);
  els.input.value = "";
  bubble("user", h("div", { class: "answer-text", text: question }));
  const body = h("div", { class: "answer-text pending", text: "…" });
  const message = bubble("assistant", body);
  const messages = [...history, { role: "user", content: question }].slice(-HISTORY_MESSAGES);
  const retrieval = {};
  if (els.topK.value) retrieval.top_k = Number(els.topK.value);
  if (els.threshold.value !== "") retrieval.score_threshold = Number(els.threshold.value);
  running = new AbortController();
  els.send.disabled = true;
  els.stop.hidden = false;
  let text = "";
  let final = null;
  try {
    const response = await call("POST", "/v1/chat/completions", { signal: running.signal,
      json: { model: `kb:${ctx.kb}`, messages, stream: true, retrieval } });
    for await (const event of events(response)) {
      if (event.error) throw new Error(event.error.message);
      const choice = event.choices?.[0];
      if (choice?.delta?.content) {
        text += choice.delta.content;
        body.textContent = text;
        els.log.scrollTop = els.log.scrollHeight;
      }
      if (event.sources) final = event;
    }
    renderAnswer(body, text, final || { sources: [] }, question);
    body.classList.remove("pending");
    message.dataset.done = "true";
    if (final?.declined) message.dataset.declined = "true";
    history = [...messages, { role: "assistant", content: text }];
  } catch (exc) {
    body.classList.remove("pending");
    if (exc.name === "AbortError") {
      body.textContent = text;
      append(body, h("span", { class: "muted", i18n: "chat.stopped" }));
    } else {
      body.textContent = text;
      append(body, h("p", { class: "notice error", text: exc.message }));
      ctx.notify(exc);
    }
    message.dataset.done = "error";
  } finally {
    running = null;
    els.send.disabled = false;
    els.stop.hidden = true;
    els.input.focus();
  }
}

export function show(ctx) {
  renderTitle(ctx);
  if (kbOfHistory !== ctx.kb || !els.log.childElementCount) newChat(ctx);
  els.input.focus();
}

export function kbChanged(ctx) {
  if (els) {
    renderTitle(ctx);
    if (kbOfHistory !== ctx.kb) newChat(ctx);
  }
}

export function reset(ctx) {
  if (els) newChat(ctx);
  kbOfHistory = "";
}


