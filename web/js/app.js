// The shell: a tiny hash router (#/page/arg?query), navigation by role, the unread badge.
import { get, setBase } from "./api.js";
import { completeOidc, session, signOut, stageConfig } from "./auth.js";
import { errorBox, h, loading, mount, ROLE } from "./ui.js";

const PAGES = [
  { path: "leads", label: "我的线索", roles: ["rep", "supervisor", "admin"], load: () => import("./pages/leads.js") },
  { path: "pool", label: "公海池", roles: ["rep", "supervisor", "admin"], load: () => import("./pages/pool.js") },
  { path: "tasks", label: "今日待办", roles: ["rep", "supervisor", "admin"], load: () => import("./pages/tasks.js") },
  { path: "inbox", label: "消息", roles: ["rep", "supervisor", "admin"], load: () => import("./pages/inbox.js") },
  { path: "dashboard", label: "数据看板", roles: ["supervisor", "admin"], load: () => import("./pages/dashboard.js") },
  { path: "reports", label: "报表", roles: ["supervisor", "admin"], load: () => import("./pages/reports.js") },
  { path: "imports", label: "导入", roles: ["rep", "supervisor", "admin"], load: () => import("./pages/imports.js") },
  { path: "rules", label: "规则", roles: ["supervisor", "admin"], load: () => import("./pages/rules.js") },
  { path: "team", label: "团队", roles: ["supervisor", "admin"], load: () => import("./pages/team.js") },
  { path: "forms", label: "表单", roles: ["admin"], load: () => import("./pages/forms.js") },
];
const HIDDEN = {
  lead: { label: "线索详情", load: () => import("./pages/lead.js") },
  signin: { label: "登录", load: () => import("./pages/signin.js") },
};

const view = document.getElementById("view");
const nav = document.getElementById("nav");
let me = null;

function parse() {
  const [pathPart, queryPart = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [page = "", ...args] = pathPart.split("/").map(decodeURIComponent);
  return { page, args, query: Object.fromEntries(new URLSearchParams(queryPart)) };
}

function renderNav(current) {
  const items = PAGES.filter((p) => p.roles.includes(me.role));
  // The menu entry of the page shown reads it again (the same hash changes nothing by itself).
  const again = (p) => (event) => { if (location.hash === `#/${p.path}`) { event.preventDefault(); route(); } };
  mount(nav, items.map((p) => h("a", { href: `#/${p.path}`, "aria-current": p.path === current ? "page" : null,
    id: `nav-${p.path}`, onclick: again(p) }, p.label,
    p.path === "inbox" ? h("span", { id: "unread", class: "badge", hidden: true }) : null)));
  nav.hidden = false;
}

export async function refreshUnread() {
  const badge = document.getElementById("unread");
  if (!badge || !session.token()) return;
  try {
    const data = await get("/inbox?unread=1&limit=1");
    badge.textContent = data.unread > 99 ? "99+" : String(data.unread);
    badge.hidden = !data.unread;
    badge.setAttribute("aria-label", `${data.unread} 条未读`);
  } catch { /* the badge is a hint; the inbox page shows errors */ }
}

async function route() {
  const { page, args, query } = parse();
  if (!session.claims()) {
    me = null;
    nav.hidden = true;
    document.getElementById("who").textContent = "";
    document.getElementById("signout").hidden = true;
    if (page !== "signin") { location.hash = "#/signin"; return; }
  } else if (!me) {
    mount(view, loading());
    try {
      me = await get("/me");
    } catch (err) {
      mount(view, errorBox(err), h("button", { type: "button", onclick: signOut }, "重新登录"));
      return;
    }
  }
  if (me && (page === "signin" || !page)) { location.hash = "#/leads"; return; }
  const spec = PAGES.find((p) => p.path === page) || HIDDEN[page];
  if (me) {
    document.getElementById("who").textContent = `${me.name}（${ROLE[me.role]}${me.team_label ? " · " + me.team_label : ""}）`;
    document.getElementById("signout").hidden = false;
    renderNav(page);
    refreshUnread();
  }
  if (!spec) {
    document.title = "页面不存在 · 贷款线索管理";
    mount(view, h("h1", {}, "页面不存在"), h("p", {}, h("a", { href: "#/leads" }, "返回我的线索")));
    return;
  }
  if (spec.roles && !spec.roles.includes(me.role)) {
    const who = spec.roles.filter((r) => r !== "rep").map((r) => ROLE[r]).join("、");
    document.title = "无权限 · 贷款线索管理";
    mount(view, h("h1", { id: "forbidden" }, "无权限"),
      h("p", {}, `「${spec.label}」仅${who}可以查看，您当前的角色是${ROLE[me.role]}。`),
      h("p", {}, h("a", { href: "#/leads" }, "返回我的线索")));
    return;
  }
  document.title = `${spec.label} · 贷款线索管理`;
  // Each navigation renders into its own container: a slow page left behind writes into a detached one.
  const target = h("div", { class: "page" }, loading());
  mount(view, target);
  const module = await spec.load();
  if (view.firstChild !== target) return;
  view.focus({ preventScroll: true });
  await module.render(target, { me, args, query });
}

async function start() {
  document.getElementById("signout").addEventListener("click", signOut);
  try {
    const cfg = await stageConfig();
    if (cfg.api) setBase(cfg.api);
    if (cfg.auth?.mode === "oidc") await completeOidc(cfg.auth);
  } catch (err) {
    mount(view, errorBox(err));
    return;
  }
  window.addEventListener("hashchange", route);
  setInterval(refreshUnread, 60000);
  await route();
}

start();
