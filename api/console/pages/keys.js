// API keys of the tenant (admin): create (the key is shown this once), list, revoke.
import { del, enc, get, post, session } from "../api.js";
import { clear, fill, formatTime, h, table } from "../dom.js";
import { t } from "../i18n.js";

export const id = "keys";
export const role = "admin";
let els;

export function mount(section, ctx) {
  els = {
    name: h("input", { id: "key-name", maxlength: 200, i18nPlaceholder: "keys.namePlaceholder" }),
    role: h("select", { id: "key-role" }, ["reader", "writer", "admin"].map((r) => h("option", { value: r, i18n: `role.${r}` }))),
    created: h("div", { id: "key-created", class: "card secret", hidden: true }),
    list: h("div", { id: "key-list" }),
    showRevoked: h("input", { id: "keys-show-revoked", type: "checkbox" }),
    revokedCount: h("span", { class: "muted" }),
  };
  els.showRevoked.addEventListener("change", () => show(ctx).catch((e) => ctx.notify(e)));
  const form = h("form", { id: "key-create", class: "row" }, els.name,
    h("label", {}, h("span", { i18n: "keys.role" }), els.role), h("button", { type: "submit", i18n: "keys.create" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const key = await post("/v1/keys", { role: els.role.value, name: els.name.value.trim() });
      els.name.value = "";
      showCreated(key);
      await show(ctx);
    } catch (exc) {
      ctx.notify(exc);
    }
  });
  section.append(h("h2", { i18n: "tab.keys" }), form, els.created,
    h("label", { class: "row" }, els.showRevoked, h("span", { i18n: "keys.showRevoked" }), els.revokedCount), els.list);
}

function showCreated(key) {
  const value = h("input", { id: "new-key", readonly: true, value: key.key, spellcheck: "false" });
  fill(els.created, 
    h("p", {}, h("b", { i18n: "keys.shownOnce" })),
    h("div", { class: "row" }, value,
      h("button", { type: "button", class: "secondary", i18n: "keys.copy", onclick: async () => {
        value.select();
        try {
          await navigator.clipboard.writeText(key.key);
        } catch {
          /* the text is selected: Ctrl+C */
        }
      } }),
      h("button", { id: "new-key-done", type: "button", i18n: "keys.stored", onclick: () => {
        clear(els.created).hidden = true;
      } })),
    h("p", { class: "muted", i18n: "keys.createdFor", i18nArgs: { role: t(`role.${key.role}`), name: key.name || key.key_id } }));
  els.created.hidden = false;
}

export async function show(ctx) {
  const all = await get("/v1/keys");
  const mine = ctx.me?.key_id;
  const revoked = all.filter((k) => k.revoked_at).length;
  els.revokedCount.textContent = `(${revoked})`;
  const keys = els.showRevoked.checked ? all : all.filter((k) => !k.revoked_at);
  keys.sort((a, b) => Boolean(a.revoked_at) - Boolean(b.revoked_at) || b.created_at - a.created_at);
  fill(els.list, table([
    { i18n: "keys.id", cell: (k) => h("code", { text: k.key_id }) },
    { i18n: "keys.name", cell: (k) => [k.name, k.key_id === mine ? h("span", { class: "badge", i18n: "keys.this" }) : null] },
    { i18n: "keys.role", cell: (k) => h("span", { class: "role-badge", dataset: { role: k.role }, i18n: `role.${k.role}` }) },
    { i18n: "kbs.created", cell: (k) => formatTime(k.created_at) },
    { i18n: "keys.state", cell: (k) => k.revoked_at
      ? h("span", { class: "status failed", i18n: "keys.revokedAt", i18nArgs: { time: formatTime(k.revoked_at) } })
      : h("span", { class: "status done", i18n: "keys.active" }) },
    { i18n: "actions", cell: (k) => k.revoked_at ? null : h("button", { type: "button", class: "danger small key-revoke",
      dataset: { keyId: k.key_id }, i18n: "keys.revoke", onclick: () => revoke(ctx, k) }) },
  ], keys, { class: "grid", id: "key-table" }));
}

async function revoke(ctx, key) {
  const own = key.key_id === ctx.me?.key_id;
  if (!window.confirm(t(own ? "keys.confirmRevokeOwn" : "keys.confirmRevoke", { id: key.key_id, name: key.name }))) return;
  try {
    await del(`/v1/keys/${enc(key.key_id)}`);
    if (own) {
      session.key = null;
      location.reload();
      return;
    }
    await show(ctx);
    ctx.notify({ key: "keys.revoked", args: { id: key.key_id } }, "ok");
  } catch (exc) {
    ctx.notify(exc);
  }
}

export function reset() {
  if (els) {
    clear(els.created).hidden = true;
    clear(els.list);
  }
}
