// The tenant's audit log (admin): changes to keys, knowledge bases, jobs and documents, newest first.
import { get } from "../api.js";
import { clear, fill, formatTime, h, table } from "../dom.js";

export const id = "audit";
export const role = "admin";
let list;

export function mount(section, ctx) {
  list = h("div", { id: "audit-list" });
  section.append(h("div", { class: "row spread" }, h("h2", { i18n: "tab.audit" }),
    h("button", { type: "button", class: "secondary", i18n: "refresh", onclick: () => show(ctx).catch((e) => ctx.notify(e)) })),
  list);
}

export async function show() {
  const events = await get("/v1/audit?limit=200");
  fill(list, events.length ? table([
    { i18n: "audit.time", cell: (e) => formatTime(e.time) },
    { i18n: "audit.actor", cell: (e) => h("code", { text: e.actor }) },
    { i18n: "audit.action", cell: (e) => h("span", { class: "audit-action", text: e.action }) },
    { i18n: "audit.target", cell: (e) => e.target },
    { i18n: "audit.details", cell: (e) => Object.keys(e.details || {}).length ? JSON.stringify(e.details) : "" },
  ], events, { class: "grid", id: "audit-table" }) : h("p", { class: "muted", i18n: "audit.empty" }));
}

export function reset() {
  if (list) clear(list);
}
