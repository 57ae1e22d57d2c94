// Building the page without HTML strings: every text (document content included) is set as text.
// The server's Content-Security-Policy requires Trusted Types with no policy, so a string given to
// the browser as HTML markup would throw anyway.
import { locale, t } from "./i18n.js";

// h("button", {class: "x", i18n: "kbs.create", onclick: fn}, child, "text", ...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "i18n") setText(el, value);
    else if (name === "i18nArgs") continue;
    else if (name === "i18nPlaceholder") {
      el.dataset.i18nPlaceholder = value;
      el.placeholder = t(value);
    } else if (name === "i18nTitle") {
      el.dataset.i18nTitle = value;
      el.title = t(value);
    } else if (name === "text") el.textContent = String(value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked" || name === "disabled" || name === "hidden") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  if (attrs && attrs.i18n && attrs.i18nArgs) setText(el, attrs.i18n, attrs.i18nArgs);
  append(el, ...children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Text from the dictionary, kept up to date when the language changes.
export function setText(el, key, args) {
  el.dataset.i18n = key;
  if (args) el.dataset.i18nArgs = JSON.stringify(args);
  else delete el.dataset.i18nArgs;
  el.textContent = t(key, args);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function formatTime(epochSeconds) {
  if (!epochSeconds) return "";
  return new Date(epochSeconds * 1000).toLocaleString(locale());
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// A table from rows: columns [{i18n, cell: row => Node|string, class}].
export function table(columns, rows, attrs = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { i18n: c.i18n, class: c.class })));
  const body = rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class }, c.cell(row)))));
  return h("table", attrs, h("thead", {}, head), h("tbody", {}, body));
}

// Replace an element's content (arrays flattened; null, undefined and false left out).
export function fill(el, ...children) {
  return append(clear(el), ...children);
}

// "also in a.csv, b.xlsx" for a hit or source other files hold the same text of (folded by the server).
export function alsoIn(chunk, attrs = {}) {
  if (!chunk.also_in?.length) return null;
  return h("span", { class: "also-in", ...attrs, i18n: "alsoIn",
    i18nArgs: { sources: chunk.also_in.map((ref) => ref.source).join(", ") } });
}
