// 数据看板 (supervisors, admins): GET /api/dashboard?from=&to=[&team=] (SPEC's external contract;
// `funnel` has total, valid, intent, won). Until the API ships, the page says so. Every figure
// links to the matching lead list.
import { get, offers, query } from "../api.js";
import { h, mount, section, shanghaiDate } from "../ui.js";

const FUNNEL = [["total", "线索总数", ""], ["valid", "有效线索", ""], ["intent", "意向明确", "intent"], ["won", "签约放款", "won"]];

export async function render(view, { me, query: q }) {
  const from = h("input", { type: "date", value: q.from || shanghaiDate(-29), "aria-label": "开始日期" });
  const to = h("input", { type: "date", value: q.to || shanghaiDate(0), "aria-label": "结束日期" });
  const team = h("select", { "aria-label": "团队" }, h("option", { value: "" }, me.role === "admin" ? "全部团队" : "本团队"));
  if (me.role === "admin") {
    get("/teams").then((d) => team.append(...d.items.map((t) => h("option", { value: t.team_id, selected: t.team_id === q.team }, t.label))))
      .catch(() => null);
  }
  const body = h("div", { id: "dashboard-body" });
  const apply = () => { location.hash = `#/dashboard${query({ from: from.value, to: to.value, team: team.value })}`; };
  mount(view, h("h1", {}, "数据看板"),
    h("div", { class: "card row" }, from, to, team, h("button", { type: "button", class: "primary", onclick: apply }, "查询")), body);
  if (!(await offers("/dashboard"))) {
    mount(body, h("div", { class: "card" }, h("p", {}, "数据看板接口尚未上线。"),
      h("p", { class: "muted" }, "上线后此处显示：转化漏斗、渠道、排行榜、转化周期、地区与贷款类型分布，点击数字可查看对应线索。")));
    return;
  }
  await section(body, () => get("/dashboard" + query({ from: from.value, to: to.value, team: team.value || q.team })),
    (data) => [funnel(data.funnel || {}), ...Object.entries(data).filter(([k, v]) => k !== "funnel" && Array.isArray(v)).map(([k, v]) => table(k, v))]);
}

function funnel(f) {
  const max = Math.max(1, ...FUNNEL.map(([k]) => Number(f[k] || 0)));
  return h("section", { class: "card", "aria-label": "转化漏斗" }, h("h2", {}, "转化漏斗"),
    h("div", { class: "bars", id: "funnel" }, FUNNEL.map(([key, label, status]) => h("button", { type: "button", dataset: { figure: key },
      onclick: () => { location.hash = `#/leads${query({ status })}`; } },
      h("span", {}, label), h("div", { class: "bar", style: `width:${(100 * Number(f[key] || 0)) / max}%` }), h("strong", {}, String(f[key] ?? 0))))));
}

function table(name, rows) {
  const keys = rows.length ? Object.keys(rows[0]) : [];
  return h("section", { class: "card", "aria-label": name }, h("h2", {}, name),
    h("div", { class: "scroll-x" }, h("table", {}, h("thead", {}, h("tr", {}, keys.map((k) => h("th", {}, k)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, keys.map((k) => h("td", {},
        k === "source" || k === "channel" ? h("a", { href: `#/leads${query({ source: r[k] })}` }, String(r[k])) : String(r[k] ?? "")))))))));
}
