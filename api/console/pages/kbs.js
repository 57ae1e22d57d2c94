// Knowledge bases of the tenant: list with document and chunk counts; create and delete (admin).
import { del, enc, get, post } from "../api.js";
import { append, clear, formatTime, h, table } from "../dom.js";
import { t } from "../i18n.js";

export const id = "kbs";
export const role = "reader";
const COUNTED = 1000; // documents listed per kb for the counts (the API's page size limit)
let list;

export function mount(section, ctx) {
  const name = h("input", { id: "kb-name", required: true, maxlength: 64, i18nPlaceholder: "kbs.namePlaceholder" });
  const description = h("input", { id: "kb-description", maxlength: 1000, i18nPlaceholder: "kbs.description" });
  const form = h("form", { id: "kb-create", class: "row", dataset: { needs: "admin" } },
    name, description, h("button", { type: "submit", i18n: "kbs.create" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await post("/v1/kbs", { name: name.value.trim(), description: description.value.trim() });
      ctx.selectKb(name.value.trim());
      name.value = "";
      description.value = "";
      await show(ctx);
      ctx.notify({ key: "kbs.createdOk" }, "ok");
    } catch (exc) {
      ctx.notify(exc);
    }
  });
  list = h("div", { id: "kb-list" });
  section.append(h("h2", { i18n: "tab.kbs" }), form, list);
}

async function counts(kb) {
  const docs = await get(`/v1/kbs/${enc(kb)}/documents?limit=${COUNTED}`);
  const chunks = docs.reduce((sum, d) => sum + d.chunks, 0);
  return { documents: docs.length >= COUNTED ? `${COUNTED}+` : String(docs.length), chunks: String(chunks) };
}

export async function show(ctx) {
  const kbs = await ctx.refreshKbs();
  clear(list);
  if (!kbs.length) {
    append(list, h("p", { class: "muted", i18n: ctx.allows("admin") ? "kbs.emptyAdmin" : "kbs.empty" }));
    return;
  }
  const cells = new Map(kbs.map((kb) => [kb.name, { documents: h("span", { text: "…" }), chunks: h("span", { text: "…" }) }]));
  append(list, table([
    { i18n: "kbs.name", cell: (kb) => h("a", { href: "#documents", class: "kb-link", text: kb.name,
      onclick: () => ctx.selectKb(kb.name) }) },
    { i18n: "kbs.description", cell: (kb) => kb.description },
    { i18n: "kbs.documents", class: "num", cell: (kb) => cells.get(kb.name).documents },
    { i18n: "kbs.chunks", class: "num", cell: (kb) => cells.get(kb.name).chunks },
    { i18n: "kbs.created", cell: (kb) => formatTime(kb.created_at) },
    { i18n: "actions", cell: (kb) => [
      h("button", { type: "button", class: "secondary small", i18n: "kbs.chat",
        onclick: () => { ctx.selectKb(kb.name); ctx.go("chat"); } }),
      ctx.allows("admin") && h("button", { type: "button", class: "danger small kb-delete", i18n: "delete",
        dataset: { kb: kb.name }, onclick: () => remove(ctx, kb.name) }),
    ] },
  ], kbs, { class: "grid", id: "kb-table" }));
  await Promise.all(kbs.map(async (kb) => {
    const cell = cells.get(kb.name);
    try {
      const c = await counts(kb.name);
      cell.documents.textContent = c.documents;
      cell.chunks.textContent = c.chunks;
    } catch {
      cell.documents.textContent = cell.chunks.textContent = "?";
    }
  }));
}

async function remove(ctx, kb) {
  if (!window.confirm(t("kbs.confirmDelete", { kb }))) return;
  try {
    await del(`/v1/kbs/${enc(kb)}`);
    await show(ctx);
    ctx.notify({ key: "kbs.deleted", args: { kb } }, "ok");
  } catch (exc) {
    ctx.notify(exc);
  }
}
