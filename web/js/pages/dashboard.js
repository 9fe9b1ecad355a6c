// 数据看板 (supervisors: their team; admins: all teams or one): GET /api/dashboard?from=&to=[&team=].
// Figures about the leads created in the date range (Asia/Shanghai days), drawn as charts (Apache
// ECharts, loaded by this page only) beside the tables of figures. Every chart element and every
// number opens the lead list with that figure's `drill` filters; each chart exports as a picture.
import { get, query } from "../api.js";
import { cardTable, h, mount, section, shanghaiDate } from "../ui.js";
import { chartCard, shortLabel } from "../charts.js";

const STAGES = ["total", "valid", "intent", "won"];
const STAGE_NAME = { leads: "线索", valid: "有效", intent: "意向", won: "签约", won_amount: "签约金额" };

export async function render(view, { me, query: q }) {
  const from = h("input", { type: "date", id: "d-from", value: q.from || shanghaiDate(-29), "aria-label": "开始日期" });
  const to = h("input", { type: "date", id: "d-to", value: q.to || shanghaiDate(0), "aria-label": "结束日期" });
  const team = me.role === "admin" ? h("select", { id: "d-team", "aria-label": "团队" }, h("option", { value: "" }, "全部团队")) : null;
  if (team) {
    get("/teams").then((d) => team.append(...d.items.map((t) => h("option", { value: t.team_id, selected: t.team_id === q.team }, t.label))))
      .catch(() => null);
  }
  const quick = (days) => h("button", { type: "button", onclick: () => { from.value = shanghaiDate(-(days - 1)); to.value = shanghaiDate(0); apply(); } },
    `近 ${days} 天`);
  const body = h("div", { id: "dashboard-body" });
  const apply = () => {
    const hash = `#/dashboard${query({ from: from.value, to: to.value, team: team?.value })}`;
    if (location.hash === hash) show(); else location.hash = hash;
  };
  mount(view, h("h1", {}, "数据看板"),
    h("form", { class: "card row", onsubmit: (e) => { e.preventDefault(); apply(); } },
      h("label", {}, "开始日期", from), h("label", {}, "结束日期", to), team ? h("label", {}, "团队", team) : null,
      h("button", { type: "submit", class: "primary" }, "查询"), quick(7), quick(30), quick(90)),
    body);
  const show = () => section(body, () => get("/dashboard" + query({ from: from.value, to: to.value, team: team?.value || q.team })), draw);
  await show();
}

function draw(d) {
  const day = (iso) => iso.replaceAll("-", "/");
  const scope = `${d.range.team_label} · ${day(d.range.from)} 至 ${day(d.range.to)}（${d.range.days} 天，按线索创建日期）`;
  return [
    h("p", { class: "muted", id: "dashboard-range" }, scope),
    h("div", { class: "grid2" },
      funnel(d.funnel, d.teams.reduce((sum, t) => sum + (t.reclaimed || 0), 0)),
      funnelChart(d.funnel)),
    trendChart(d.trend),
    h("div", { class: "grid2" },
      barChart("渠道", "channels", d.channels, { share: true }),
      barChart("地区分布（按省份）", "dist-province", d.distributions.province || []),
      pieChart("贷款类型分布", "dist-loan_type", d.distributions.loan_type),
      pieChart("客户类型分布", "dist-customer_type", d.distributions.customer_type),
      pieChart("大区分布", "dist-region", d.distributions.region)),
    funnelTable("渠道转化", "channel-table", "渠道", d.channels),
    d.partners.length ? funnelTable("合作方", "partner-table", "合作方", d.partners) : null,
    funnelTable("产品转化", "product-table", "贷款类型", d.products),
    d.score_bands?.length ? funnelTable("评分档转化", "score-band-table", "评分档", d.score_bands) : null,
    d.teams.length > 1 ? funnelTable("团队", "team-table", "团队", d.teams, true) : null,
    h("div", { class: "grid-board" }, leaderboard(d.leaderboard), leaderChart(d.leaderboard)),
    h("div", { class: "grid2" }, cycle(d.cycle), cycleChart(d.cycle)),
  ];
}

const TIP = { trigger: "item", confine: true };

function funnelChart(f) {
  const stages = STAGES.map((stage) => ({ name: f.labels[stage], value: f[stage], drill: f.drill[stage],
    title: f.labels[stage] }));
  const rate = { [f.labels.valid]: f.rates.valid_rate, [f.labels.intent]: f.rates.intent_rate, [f.labels.won]: f.rates.won_rate };
  return chartCard({ id: "funnel-chart", title: "转化漏斗图", height: 260, option: {
    tooltip: { ...TIP, formatter: (p) => `${p.name}：${p.value} 条${rate[p.name] !== undefined ? `（上一步转化 ${pct(rate[p.name])}）` : ""}` },
    series: [{ type: "funnel", sort: "none", left: "5%", width: "90%", top: 10, bottom: 10, minSize: "38%", gap: 2,
      label: { position: "inside", color: "#fff", formatter: (p) => `${p.name} ${p.value}${rate[p.name] !== undefined ? ` · ${pct(rate[p.name])}` : ""}` },
      data: stages }],
  } });
}

function trendChart(t) {
  const points = t.points || [];
  const series = [["leads", "线索"], ["valid", "有效"], ["won", "签约"]].map(([key, name]) => ({
    name, type: "line", symbolSize: 7, data: points.map((p) => ({ value: p[key], drill: p.drill[key],
      title: `${p.label} · ${name}` })) }));
  return chartCard({ id: "trend", title: t.unit === "week" ? "线索趋势（按周）" : "线索趋势（按天）", height: 280,
    empty: !points.some((p) => p.leads || p.won), option: {
      tooltip: { trigger: "axis", confine: true }, legend: { bottom: 0 },
      grid: { left: 8, right: 16, top: 16, bottom: 36, containLabel: true },
      xAxis: { type: "category", data: points.map((p) => p.label), axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", minInterval: 1 }, series,
    } });
}

/** Bars of leads per row (a share of the whole beside each when `share`). */
function barChart(title, id, rows, { share = false } = {}) {
  const total = rows.reduce((sum, r) => sum + r.leads, 0);
  const list = [...rows].reverse();  // the largest on top
  return chartCard({ id, title, height: Math.max(180, 34 * rows.length + 40), empty: !rows.length, option: {
    tooltip: { ...TIP, formatter: (p) => `${p.name}：${p.value} 条（占 ${pct(total ? p.value / total : null)}）` },
    grid: { left: 8, right: share ? 84 : 40, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1, axisLabel: { hideOverlap: true } },
    yAxis: { type: "category", data: list.map((r) => r.label), axisLabel: { formatter: shortLabel(7) } },
    series: [{ type: "bar", barMaxWidth: 22, data: list.map((r) => ({ value: r.leads, drill: r.drill.leads || r.drill,
      title: `${title} ${r.label} · 线索数` })),
      label: { show: true, position: "right", formatter: (p) => share ? `${p.value}（${pct(total ? p.value / total : null)}）` : `${p.value}` } }],
  } });
}

function pieChart(title, id, rows) {
  return chartCard({ id, title, height: 280, empty: !rows.length, option: {
    tooltip: { ...TIP, formatter: (p) => `${p.name}：${p.value} 条（${p.percent}%）` },
    legend: { type: "scroll", bottom: 0 },
    series: [{ type: "pie", radius: ["35%", "62%"], center: ["50%", "45%"], avoidLabelOverlap: true,
      label: { formatter: "{b}\n{d}%" },
      data: rows.map((r) => ({ name: r.label, value: r.leads, drill: r.drill, title: `${title} ${r.label} · 线索数` })) }],
  } });
}

function leaderChart(rows) {
  const top = rows.slice(0, 10).reverse();
  // By 签约金额 (the leaderboard's order) once anyone has won; before that by leads.
  const byAmount = top.some((r) => r.won_amount > 0);
  return chartCard({ id: "leaderboard-chart", title: byAmount ? "排行榜（签约金额）" : "排行榜（线索数）",
    height: Math.max(180, 34 * top.length + 40), empty: !top.length, option: {
      tooltip: { ...TIP, formatter: (p) => `${p.name}：线索 ${p.data.leads} 条，签约 ${p.data.won} 笔，${wan(p.data.amount)}` },
      grid: { left: 8, right: 72, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: byAmount ? 0 : 1, axisLabel: { hideOverlap: true } },
      yAxis: { type: "category", data: top.map((r) => r.label), axisLabel: { formatter: shortLabel(7) } },
      series: [{ type: "bar", barMaxWidth: 22, data: top.map((r) => ({ value: byAmount ? r.won_amount : r.leads, leads: r.leads,
        won: r.won, amount: r.won_amount, drill: byAmount ? r.drill.won : r.drill.leads,
        title: `${r.label} · ${byAmount ? "签约" : "线索"}` })),
        label: { show: true, position: "right", formatter: (p) => (byAmount ? wan(p.value) : `${p.value} 条`) } }],
    } });
}

function cycleChart(c) {
  const rows = c.distribution || [];
  return chartCard({ id: "cycle-chart", title: "转化周期分布", height: 240, empty: !c.overall.won, option: {
    tooltip: { ...TIP, formatter: (p) => `从创建到签约 ${p.name}：${p.value} 笔` },
    grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: rows.map((r) => r.label), axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", barMaxWidth: 36, label: { show: true, position: "top" },
      data: rows.map((r) => ({ value: r.won, drill: r.drill, title: "签约客户" })) }],
  } });
}

/** A link to the lead list with a figure's drill filters; the title names the figure there. */
function drillLink(drill, text, title, attrs = {}) {
  return h("a", { href: `#/leads${query({ ...drill, title })}`, title: `查看线索：${title}`, ...attrs }, text);
}

const pct = (r) => (r === null || r === undefined ? "—" : `${(r * 100).toFixed(1)}%`);
const wan = (v) => `${Number(v || 0).toLocaleString("zh-CN", { maximumFractionDigits: 2 })} 万元`;
const days = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(1)} 天`);
function minutes(v) {
  if (v === null || v === undefined) return "—";
  return v < 120 ? `${Math.round(v)} 分钟` : `${(v / 60).toFixed(1)} 小时`;
}

function funnel(f, reclaimed) {
  const top = Math.max(1, f.total);
  const rateTo = { valid: ["有效率", f.rates.valid_rate], intent: ["意向率", f.rates.intent_rate], won: ["签约率", f.rates.won_rate] };
  return h("section", { class: "card", "aria-labelledby": "h-funnel" }, h("h2", { id: "h-funnel" }, "转化漏斗"),
    h("ol", { class: "funnel", id: "funnel" }, STAGES.map((stage) => h("li", {},
      rateTo[stage] ? h("div", { class: "muted step" }, `↓ ${rateTo[stage][0]} ${pct(rateTo[stage][1])}`) : null,
      drillLink(f.drill[stage], h("span", { class: "fbar", style: `width:${Math.max(8, (100 * f[stage]) / top)}%` },
        h("span", {}, f.labels[stage]), h("strong", { dataset: { figure: stage } }, String(f[stage]))), f.labels[stage],
      { class: `stage st-${stage}` })))),
    h("div", { class: "row kpis" },
      h("span", {}, "总转化率 ", h("strong", {}, pct(f.rates.conversion))),
      h("span", {}, "签约金额 ", drillLink(f.drill.won_amount, h("strong", {}, wan(f.won_amount)), "签约金额")),
      h("span", {}, "超时收回 ", h("strong", { id: "reclaimed-total" }, `${reclaimed} 条`))));
}

function funnelTable(title, id, name, rows, reclaims = false) {
  const cell = (r, key, text) => drillLink(r.drill[key], text, `${title} ${r.label} · ${STAGE_NAME[key]}`, { dataset: { figure: key } });
  const headers = [name, "线索", "有效", "有效率", "意向", "签约", "转化率", "签约金额", ...(reclaims ? ["超时收回"] : [])];
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title),
    rows.length ? cardTable(headers, rows.map((r) => ({
      attrs: { dataset: { value: r.value } },
      cells: [r.label, cell(r, "leads", String(r.leads)), cell(r, "valid", String(r.valid)), pct(r.valid_rate),
        cell(r, "intent", String(r.intent)), cell(r, "won", String(r.won)), pct(r.conversion), cell(r, "won_amount", wan(r.won_amount)),
        ...(reclaims ? [h("span", { dataset: { figure: "reclaimed" } }, String(r.reclaimed ?? 0))] : [])],
    })), { id }) : h("p", { class: "empty" }, "暂无数据"));
}

function leaderboard(rows) {
  const cell = (r, key, text, what) => (r.drill?.[key] ? drillLink(r.drill[key], text, `${r.label} · ${what}`)
    : h("span", {}, text));
  const figure = (el, key) => { el.dataset.figure = key; return el; };
  return h("section", { class: "card", "aria-label": "排行榜" }, h("h2", {}, "排行榜"),
    rows.length ? cardTable(["#", "销售", "线索", "跟进次数", "超时收回", "签约", "签约金额", "首次联系（中位）"], rows.map((r, i) => ({
      attrs: { dataset: { owner: r.owner } },
      cells: [String(i + 1), r.label, figure(cell(r, "leads", String(r.leads), "线索"), "leads"),
        figure(cell(r, "activities", String(r.activities), "跟进"), "activities"),
        figure(cell(r, "reclaimed", String(r.reclaimed ?? 0), "超时收回"), "reclaimed"),
        cell(r, "won", String(r.won), "签约"), cell(r, "won_amount", wan(r.won_amount), "签约金额"),
        cell(r, "first_contact", minutes(r.first_contact_median_minutes), "已首次联系")],
    })), { id: "leaderboard" }) : h("p", { class: "empty" }, "暂无数据"));
}

function cycle(c) {
  const rows = (title, list) => list.length ? cardTable([title, "签约数", "平均", "中位"], list.map((r) =>
    [r.label, drillLink(r.drill, String(r.won), `${r.label} · 签约`), days(r.avg_days), days(r.median_days)])) : null;
  return h("section", { class: "card", id: "cycle", "aria-label": "转化周期" }, h("h2", {}, "转化周期"),
    h("p", {}, "从创建到签约：平均 ", h("strong", {}, days(c.overall.avg_days)), "，中位 ", h("strong", {}, days(c.overall.median_days)),
      "（", drillLink(c.overall.drill, `${c.overall.won} 笔签约`, "签约客户"), "）"),
    rows("贷款类型", c.by_product), c.by_team.length > 1 ? rows("团队", c.by_team) : null);
}
