// Ragway console: sign in with an API key, then one page per task. Every request goes through the
// gateway's public API with that key; the gateway decides what the key may do, and the page only
// hides what the key's role could not do anyway.
import { ApiError, allows, get, session, whenUnauthenticated } from "./api.js";
import { $, $$, clear, h, setText } from "./dom.js";
import { applyLanguage, getLanguage, setLanguage, t } from "./i18n.js";
import * as audit from "./pages/audit.js";
import * as chat from "./pages/chat.js";
import * as documents from "./pages/documents.js";
import * as keys from "./pages/keys.js";
import * as kbs from "./pages/kbs.js";
import * as search from "./pages/search.js";
import * as upload from "./pages/upload.js";

const PAGES = [kbs, upload, documents, chat, search, keys, audit];
const KB_KEY = "ragway.kb";
let kbListings = 0; // GET /v1/kbs requests sent (refreshKbs)

const ctx = {
  me: null,
  kbs: [],
  get kb() {
    return sessionStorage.getItem(KB_KEY) || "";
  },
  selectKb(name) {
    if (name) sessionStorage.setItem(KB_KEY, name);
    else sessionStorage.removeItem(KB_KEY);
    renderKbSelect();
    for (const page of PAGES) page.kbChanged?.(ctx);
  },
  allows(role) {
    return Boolean(ctx.me) && allows(ctx.me.role, role);
  },
  async refreshKbs() {
    // Only the latest listing applies: an older one answering late (a page opened just before a kb was
    // created) would drop the new kb and reset the selection to the first.
    const asked = ++kbListings;
    const kbs = await get("/v1/kbs");
    if (asked !== kbListings) return ctx.kbs;
    ctx.kbs = kbs;
    if (!ctx.kbs.some((kb) => kb.name === ctx.kb)) ctx.selectKb(ctx.kbs[0]?.name || "");
    else renderKbSelect();
    return ctx.kbs;
  },
  go(pageId) {
    location.hash = `#${pageId}`;
  },
  notify(what, kind = "error") {
    const box = $("#notice");
    if (what instanceof ApiError) {
      box.dataset.code = what.code;
      box.textContent = `${t("error.prefix")} (${what.status || "—"} ${what.code}): ${what.message}`;
    } else if (what instanceof Error) {
      box.textContent = `${t("error.prefix")}: ${what.message}`;
    } else {
      delete box.dataset.code;
      setText(box, what.key, what.args);
    }
    box.className = `notice ${kind}`;
    box.hidden = false;
  },
  clearNotice() {
    $("#notice").hidden = true;
  },
};

function renderKbSelect() {
  const select = $("#kb-select");
  clear(select);
  if (!ctx.kbs.length) select.append(h("option", { value: "", i18n: "kb.none" }));
  for (const kb of ctx.kbs) select.append(h("option", { value: kb.name, text: kb.name }));
  select.value = ctx.kb;
}

function showSignIn(error) {
  ctx.me = null;
  $("#app").hidden = true;
  $("#identity").hidden = true;
  $("#signin").hidden = false;
  const message = $("#signin-error");
  if (error) {
    message.textContent = `${t("signin.refused")} ${error.message}`;
    message.hidden = false;
  } else {
    message.hidden = true;
  }
  $("#key-input").focus();
}

async function signIn(key) {
  const me = await get("/v1/me", { key }); // checked before it is stored
  session.key = key;
  await start(me);
}

async function start(me) {
  ctx.me = me;
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#identity").hidden = false;
  $("#who-tenant").textContent = me.tenant;
  setText($("#who-role"), `role.${me.role}`);
  $("#who-role").dataset.role = me.role;
  $("#who-key").textContent = me.key_id.slice(0, 8);
  for (const el of $$("[data-needs]")) el.hidden = !ctx.allows(el.dataset.needs);
  for (const page of PAGES) page.reset?.(ctx);
  try {
    await ctx.refreshKbs();
  } catch (exc) {
    ctx.notify(exc);
  }
  route();
}

function signOut(error) {
  session.key = null;
  for (const page of PAGES) page.reset?.(ctx);
  ctx.clearNotice();
  showSignIn(error);
}

function route() {
  if (!ctx.me) return;
  const wanted = location.hash.slice(1);
  const page = PAGES.find((p) => p.id === wanted && ctx.allows(p.role)) || PAGES[0];
  for (const p of PAGES) {
    $(`#page-${p.id}`).hidden = p !== page;
    $(`#tab-${p.id}`).setAttribute("aria-selected", String(p === page));
  }
  ctx.clearNotice();
  Promise.resolve(page.show(ctx)).catch((exc) => ctx.notify(exc));
}

function buildShell() {
  const nav = $("#tabs");
  const main = $("#pages");
  for (const page of PAGES) {
    nav.append(
      h("a", { id: `tab-${page.id}`, href: `#${page.id}`, class: "tab", role: "tab", i18n: `tab.${page.id}`,
        dataset: { needs: page.role } }),
    );
    const section = h("section", { id: `page-${page.id}`, class: "page", hidden: true });
    main.append(section);
    page.mount(section, ctx);
  }
}

function init() {
  applyLanguage();
  buildShell();
  whenUnauthenticated((error) => signOut(error));
  $("#lang-toggle").addEventListener("click", () => {
    setLanguage(getLanguage() === "zh" ? "en" : "zh");
    for (const page of PAGES) page.languageChanged?.(ctx);
  });
  $("#signout").addEventListener("click", () => signOut());
  $("#kb-select").addEventListener("change", (event) => ctx.selectKb(event.target.value));
  $("#signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#key-input");
    const key = input.value.trim();
    if (!key) return;
    const button = $("#signin-button");
    button.disabled = true;
    try {
      await signIn(key);
      input.value = "";
    } catch (exc) {
      showSignIn(exc instanceof ApiError ? exc : new Error(String(exc)));
    } finally {
      button.disabled = false;
    }
  });
  window.addEventListener("hashchange", route);
  if (session.key) {
    get("/v1/me")
      .then(start)
      .catch((exc) => (exc instanceof ApiError && exc.status === 401 ? null : showSignIn(exc)));
  } else {
    showSignIn();
  }
}

init();
