// 团队: users (on duty, active, daily cap, max open leads, today's load) and teams (robot webhook).
// Admins see everyone, supervisors their own team.
import { get, patch, put } from "../api.js";
import { busy, cardTable, h, mount, ROLE, section, toast } from "../ui.js";

export async function render(view) {
  const users = h("div");
  const teams = h("div");
  mount(view, h("h1", {}, "团队"), h("h2", {}, "成员"), users, h("h2", {}, "团队与机器人"), teams);
  // People and teams by name (the ids stay in data attributes for scripts).
  let pending = null;
  const both = () => (pending ||= Promise.all([get("/users"), get("/teams")]).catch((err) => { pending = null; throw err; }));
  await Promise.all([
    section(users, both, ([data, t]) => {
      const label = new Map(t.items.map((x) => [x.team_id, x.label]));
      return h("div", { class: "scroll-x" }, cardTable(["成员", "角色", "团队", "在岗", "启用", "每日上限", "持有上限", "持有/今日", ""],
        data.items.map((u) => userRow(u, label)), { id: "user-table" }));
    }),
    section(teams, both, ([data, t]) => {
      const name = new Map(data.items.map((u) => [u.user_id, u.name]));
      return t.items.map((x) => teamCard(x, name));
    }),
  ]);
}

function userRow(u, teamLabel) {
  const changes = {};
  const rep = u.role === "rep";
  const box = (key) => h("input", { type: "checkbox", checked: u[key], "aria-label": `${u.name} ${key === "on_duty" ? "在岗" : "启用"}`,
    onchange: (e) => { changes[key] = e.target.checked; } });
  const num = (key, label) => h("input", { type: "number", min: 0, value: u[key], "aria-label": `${u.name} ${label}`,
    oninput: (e) => { changes[key] = Number(e.target.value); } });
  const save = h("button", { type: "button", onclick: () => busy(save, async () => {
    if (!Object.keys(changes).length) { toast("没有修改"); return; }
    await patch(`/users/${encodeURIComponent(u.user_id)}`, changes);
    toast(`已保存 ${u.name}`);
  }) }, "保存");
  return { attrs: { dataset: { user: u.user_id } }, cells: [h("span", {}, u.name),
    ROLE[u.role] || u.role, u.team ? teamLabel.get(u.team) || "—" : "—", rep ? box("on_duty") : "—", box("active"),
    rep ? num("daily_cap", "每日上限") : "—", rep ? num("max_open", "持有上限") : "—",
    rep ? `${u.open_leads ?? 0} / ${u.assigned_today ?? 0}` : "—", save] };
}

function teamCard(t, userName) {
  const url = h("input", { type: "url", placeholder: "https://…（留空则关闭）", "aria-label": `${t.label} 机器人地址`, class: "grow" });
  const kind = h("select", { "aria-label": "机器人类型" }, h("option", { value: "wecom", selected: t.webhook_kind !== "dingtalk" }, "企业微信"),
    h("option", { value: "dingtalk", selected: t.webhook_kind === "dingtalk" }, "钉钉"));
  const out = h("div");
  const save = h("button", { type: "button", onclick: () => busy(save, async () => {
    await put(`/teams/${encodeURIComponent(t.team_id)}/webhook`, { url: url.value.trim() || null, kind: kind.value });
    toast("机器人设置已保存");
  }, out) }, "保存机器人");
  return h("section", { class: "card", dataset: { team: t.team_id } },
    h("div", { class: "row" }, h("strong", { class: "grow" }, t.label), h("span", { class: "muted" }, t.region || "")),
    h("p", { class: "muted" }, `主管：${userName.get(t.supervisor) || "—"} · 机器人：${t.webhook_kind ? (t.webhook_kind === "dingtalk" ? "钉钉" : "企业微信") + "（已设置）" : "未设置"}`),
    h("div", { class: "row" }, url, kind, save), out);
}
