// 报表 (supervisors: their team; admins: everything): boards of cards, each card a report query
// (POST /api/reports/query) drawn as a chart (ECharts) or a table or a single figure. The card editor
// composes a card; boards are saved (GET/POST/PUT/DELETE /api/boards), shared, set as home, exported
// to Excel (POST /api/reports/export) and each chart to PNG. Every bar, point, slice and number opens
// the lead list with its `drill` filters. The board grid reflows to one column on a phone.
import { api, get, post, put } from "../api.js";
import { chartCard, drillHref, shortLabel } from "../charts.js";
import { errorBox, h, loading, mount, shanghaiDate, toast } from "../ui.js";

const state = { boards: [], home: null, board: null, catalog: null, ranges: [], visibility: [] };

export async function render(view, { me, args, query: q }) {
  mount(view, h("h1", {}, "报表"), loading());
  const data = await get("/boards");
  Object.assign(state, { boards: data.boards, home: data.home, catalog: data.catalog, ranges: data.ranges,
    visibility: data.visibility });
  const wanted = args[0] || q.board || data.home;
  if (args[0] && !state.boards.some((b) => b.board_id === wanted)) {
    // Just created or shared: the list (an index read) may not have it yet; the board itself is read directly.
    const one = await get(`/boards/${encodeURIComponent(wanted)}`).catch(() => null);
    if (one) state.boards.unshift(one);
  }
  state.board = state.boards.find((b) => b.board_id === wanted) || state.boards.find((b) => b.board_id === data.home)
    || state.boards[0];
  draw(view, me);
}

function go(boardId) {
  location.hash = `#/reports/${encodeURIComponent(boardId)}`;
}

function draw(view, me) {
  const board = state.board;
  const picker = h("select", { id: "board-picker", "aria-label": "看板", onchange: (e) => go(e.target.value) },
    state.boards.map((b) => h("option", { value: b.board_id, selected: b.board_id === board.board_id },
      `${b.name}${b.home ? "（首页）" : ""}${b.ready ? " · 预置" : b.editable ? "" : ` · ${b.owner_label}共享`}`)));
  const newName = h("input", { id: "new-board-name", placeholder: "新看板名称", maxlength: 30, "aria-label": "新看板名称" });
  const create = async (e) => {
    e.preventDefault();
    const name = newName.value.trim();
    if (!name) { toast("请填写看板名称"); return; }
    try {
      const made = await post("/boards", { name, cards: [] });
      toast(`已创建看板「${made.name}」`);
      go(made.board_id);
    } catch (err) { toast(err.message); }
  };
  const homeButton = h("button", { type: "button", id: "set-home", disabled: board.home, onclick: async () => {
    await post(`/boards/${encodeURIComponent(board.board_id)}/home`);
    toast(`已将「${board.name}」设为首页`);
    location.reload();
  } }, board.home ? "已是首页" : "设为首页");
  const exportButton = h("button", { type: "button", id: "export-board", onclick: () => exportCards(board.name, board.cards) },
    "导出 Excel");
  const grid = h("div", { class: "board-grid", id: "board-grid" });
  const editor = board.editable ? cardEditor(me, board) : h("p", { class: "muted" },
    board.ready ? "这是系统预置看板：可“另存为新看板”后修改，或新建自己的看板。" : "这是他人共享的看板，只能查看。");
  const settings = board.editable ? boardSettings(board) : null;
  mount(view, h("h1", {}, "报表"),
    h("div", { class: "card row", id: "board-bar" }, h("label", {}, "看板", picker), homeButton, exportButton,
      h("form", { class: "row", onsubmit: create }, newName,
        h("button", { type: "submit", id: "create-board" }, "新建看板"),
        board.cards.length ? h("button", { type: "button", id: "copy-board", onclick: async () => {
          const made = await post("/boards", { name: newName.value.trim() || `${board.name}（副本）`, cards: board.cards.map(
            ({ card_id, title, chart, range, from, to, width, query: cq }) => ({ card_id, title, chart, range, width: width || 1,
              query: cq, ...(range === "custom" ? { from, to } : {}) })) });
          toast(`已另存为「${made.name}」`);
          go(made.board_id);
        } }, "另存为新看板") : null)),
    settings, grid, editor, me.role === "admin" ? costPanel() : null);
  if (!board.cards.length) grid.append(h("p", { class: "empty card" }, "看板还没有卡片：用下方的卡片编辑器添加。"));
  for (const card of board.cards) grid.append(cardView(card, board));
}

function boardSettings(board) {
  const visibility = h("select", { id: "board-visibility", "aria-label": "共享范围" },
    state.visibility.map((v) => h("option", { value: v.key, selected: v.key === board.visibility }, v.label)));
  const weekly = h("input", { type: "checkbox", id: "board-weekly", checked: !!board.weekly });
  const save = async () => {
    try {
      await saveBoard({ ...board, visibility: visibility.value, weekly: weekly.checked });
      toast("看板设置已保存");
    } catch (err) { toast(err.message); }
  };
  return h("div", { class: "card row", id: "board-settings" },
    h("label", {}, "共享范围", visibility), h("label", { class: "check" }, weekly, "每周一推送摘要到团队群和消息"),
    h("button", { type: "button", onclick: save }, "保存设置"),
    h("button", { type: "button", class: "link danger", id: "delete-board", onclick: async () => {
      if (!confirm(`确定删除看板「${board.name}」？`)) return;
      await api("DELETE", `/boards/${encodeURIComponent(board.board_id)}`);
      toast("已删除看板");
      go(state.home);
    } }, "删除看板"));
}

async function saveBoard(board) {
  const body = { name: board.name, visibility: board.visibility, weekly: !!board.weekly,
    cards: board.cards.map(({ card_id, title, chart, range, from, to, width, query: cq }) =>
      ({ card_id, title, chart, range, width: width || 1, query: cq, ...(range === "custom" ? { from, to } : {}) })) };
  const saved = await put(`/boards/${encodeURIComponent(board.board_id)}`, body);
  Object.assign(board, saved);
  return saved;
}

// -- ranges ----------------------------------------------------------------------------------------

function addDays(iso, n) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** A card's relative range as Shanghai days (the same rules as services/boards.py). */
export function resolveRange(card) {
  const today = shanghaiDate(0);
  const [y, m] = today.split("-").map(Number);
  const first = `${today.slice(0, 7)}-01`;
  const weekday = (new Date(`${today}T00:00:00Z`).getUTCDay() + 6) % 7;
  switch (card.range) {
    case "custom": return [card.from, card.to];
    case "this_month": return [first, today];
    case "last_month": { const end = addDays(first, -1); return [`${end.slice(0, 7)}-01`, end]; }
    case "last_7_days": return [addDays(today, -6), today];
    case "last_12_weeks": return [addDays(today, -weekday - 77), today];
    case "last_12_months": {
      const month = new Date(Date.UTC(y, m - 12, 1)).toISOString().slice(0, 10);
      return [month, today];
    }
    case "this_year": return [`${y}-01-01`, today];
    default: return [addDays(today, -29), today];
  }
}

function cardQuery(card, extra = {}) {
  const [from, to] = resolveRange(card);
  return { ...card.query, from, to, ...extra };
}

// -- a card ----------------------------------------------------------------------------------------

function cardView(card, board) {
  const slot = h("div", { class: `board-card w${card.width || 1}`, "data-card": card.card_id });
  slot.append(h("section", { class: "card" }, h("h2", {}, card.title), loading()));
  post("/reports/query", cardQuery(card, card.chart === "figure" ? { compare: true } : {}))
    .then((result) => slot.replaceChildren(drawCard(card, result, board)))
    .catch((err) => slot.replaceChildren(h("section", { class: "card" }, h("h2", {}, card.title), errorBox(err))));
  return slot;
}

const cnDate = (iso) => { const [y, m, d] = iso.split("-").map(Number); return `${y}年${m}月${d}日`; };
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
function fmt(key, v) {
  if (v === null || v === undefined) return "—";
  if (key.endsWith("_rate")) return pct(v);
  if (key === "won_amount") return `${Number(v).toLocaleString("zh-CN")} 万元`;
  if (key.startsWith("cost")) return `${Number(v).toLocaleString("zh-CN")} 元`;
  if (key === "fc_median") return `${v} 分钟`;
  if (key === "cycle_median") return `${v} 天`;
  return Number(v).toLocaleString("zh-CN");
}

function rowLabel(result, row) {
  return result.dimensions.map((d) => row[`${d.key}_label`]).join(" · ") || "合计";
}

function tools(card, board, result) {
  const out = [h("button", { type: "button", class: "link", "data-export-xlsx": card.card_id,
    onclick: () => exportCards(card.title, [card]) }, "导出 Excel")];
  if (board.editable) {
    out.push(h("button", { type: "button", class: "link danger", "data-remove": card.card_id, onclick: async () => {
      board.cards = board.cards.filter((c) => c.card_id !== card.card_id);
      await saveBoard(board);
      toast(`已移除卡片「${card.title}」`);
      document.querySelector(`[data-card='${card.card_id}']`)?.remove();
    } }, "移除"));
  }
  return h("div", { class: "row card-tools" }, h("span", { class: "muted grow", "data-scope": "" }, [result.scope.label,
    ...(result.products ? [result.products.map((p) => p.label).join("、")] : []), `${cnDate(result.from)} 至 ${cnDate(result.to)}`].join(" · ")), out);
}

function drawCard(card, result, board) {
  const id = `card-${card.card_id}`;
  const measures = result.measures;
  const foot = tools(card, board, result);
  if (card.chart === "figure" || card.chart === "table" || !result.rows.length) {
    return h("section", { class: "card", id, "aria-label": card.title }, h("h2", {}, card.title),
      card.chart === "figure" ? figure(result) : table(card, result), foot);
  }
  const time = result.dimensions.find((d) => ["day", "week", "month"].includes(d.key));
  const other = result.dimensions.find((d) => !["day", "week", "month"].includes(d.key));
  let option;
  if (card.chart === "pie" || card.chart === "funnel") {
    const m = measures[0];
    const data = card.chart === "funnel" && !other
      ? measures.map((mm) => ({ name: mm.label, value: result.total[mm.key], drill: result.drill[mm.key], title: `${card.title} ${mm.label}` }))
      : result.rows.map((r) => ({ name: rowLabel(result, r), value: r[m.key], drill: r.drill[m.key], title: `${card.title} ${rowLabel(result, r)}` }));
    option = { tooltip: { trigger: "item" }, legend: { type: "scroll", bottom: 0 },
      series: [{ type: card.chart, radius: card.chart === "pie" ? ["30%", "65%"] : undefined, top: 10, bottom: 40, data,
        label: { formatter: "{b}: {c}" } }] };
  } else {
    // bar / stacked / line: x = the time buckets (or the dimension's values); one series per measure,
    // or per dimension value when both a time and another dimension are chosen.
    const xKey = time ? time.key : other?.key;
    const xs = [...new Map(result.rows.map((r) => [r[xKey], r[`${xKey}_label`]])).entries()];
    let series;
    if (time && other) {
      const m = measures[0];
      const values = [...new Map(result.rows.map((r) => [r[other.key], r[`${other.key}_label`]])).entries()];
      series = values.map(([value, label]) => ({ name: label, type: card.chart === "line" ? "line" : "bar",
        stack: card.chart === "stacked" ? "all" : undefined,
        data: xs.map(([x]) => { const r = result.rows.find((row) => row[xKey] === x && row[other.key] === value);
          return { value: r ? r[m.key] : 0, drill: r?.drill[m.key], title: `${card.title} ${label}` }; }) }));
    } else {
      series = measures.map((m, i) => ({ name: m.label, type: card.chart === "line" ? "line" : "bar",
        stack: card.chart === "stacked" ? "all" : undefined, yAxisIndex: measures.length > 1 && i > 0 && m.key !== measures[0].key && unit(m.key) !== unit(measures[0].key) ? 1 : 0,
        data: xs.map(([x, label]) => { const r = result.rows.find((row) => row[xKey] === x);
          return { value: r ? r[m.key] : 0, drill: r?.drill[m.key], title: `${card.title} ${label} · ${m.label}` }; }) }));
    }
    const twoAxes = series.some((s) => s.yAxisIndex === 1);
    option = { tooltip: { trigger: "axis" }, legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 24, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: xs.map(([, label]) => label), axisLabel: { formatter: shortLabel(time ? 12 : 6) } },
      yAxis: twoAxes ? [{ type: "value" }, { type: "value", splitLine: { show: false } }] : { type: "value" }, series };
  }
  const chart = chartCard({ id, title: card.title, option, height: 300 });
  chart.querySelector(".chart")?.setAttribute("data-chart", id);
  chart.append(foot);
  return chart;
}

function unit(key) {
  if (key.endsWith("_rate")) return "rate";
  if (key === "won_amount" || key.startsWith("cost") || key === "roi") return key;
  return "count";
}

function figure(result) {
  const m = result.measures[0];
  const now = result.total[m.key];
  const before = result.previous?.total?.[m.key];
  let change = "";
  if (typeof now === "number" && typeof before === "number" && before !== 0) {
    const d = (now - before) / Math.abs(before);
    change = `${d >= 0 ? "↑" : "↓"} ${(Math.abs(d) * 100).toFixed(1)}%（上一周期 ${fmt(m.key, before)}）`;
  } else if (result.previous) change = `上一周期 ${fmt(m.key, before)}`;
  const drill = result.drill[m.key];
  const big = h("strong", { class: "figure", "data-figure": m.key }, fmt(m.key, now));
  return h("div", { class: "single" }, drill ? h("a", { href: drillHref(drill, m.label) }, big) : big,
    h("p", { class: "muted", "data-change": "" }, change));
}

function table(card, result) {
  const dims = result.dimensions;
  const head = [...dims.map((d) => d.label), ...result.measures.map((m) => m.label)];
  const rows = result.rows.map((r) => h("tr", {}, dims.map((d) => h("td", {}, r[`${d.key}_label`])),
    result.measures.map((m) => h("td", { class: "num", "data-measure": m.key },
      r.drill[m.key] ? h("a", { href: drillHref(r.drill[m.key], `${card.title} ${rowLabel(result, r)} · ${m.label}`) }, fmt(m.key, r[m.key]))
        : fmt(m.key, r[m.key])))));
  const total = dims.length ? h("tr", { class: "total" }, h("td", { colspan: dims.length }, "合计"),
    result.measures.map((m) => h("td", { class: "num" }, fmt(m.key, result.total[m.key])))) : null;
  if (!result.rows.length) return h("p", { class: "empty" }, "暂无数据");
  return h("div", { class: "table-scroll" }, h("table", { class: "report-table" },
    h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))), h("tbody", {}, rows, total)));
}

async function exportCards(title, cards) {
  try {
    const out = await post("/reports/export", { title, cards: cards.map((c) => ({ title: c.title, query: cardQuery(c) })) });
    const link = h("a", { href: out.url, download: out.filename }, out.filename);
    link.click();
    toast(`已导出「${out.filename}」`);
  } catch (err) { toast(err.message); }
}

// -- the card editor -------------------------------------------------------------------------------

function cardEditor(me, board) {
  const cat = state.catalog;
  const title = h("input", { id: "card-title", maxlength: 60, placeholder: "如：本月各渠道有效线索与签约金额", "aria-label": "卡片标题" });
  const measures = h("fieldset", { class: "checks", id: "card-measures" }, h("legend", {}, "指标（可多选）"),
    cat.measures.filter((m) => !m.cost || me.role === "admin").map((m) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: m.key, name: "measure" }), m.label)));
  const time = h("select", { id: "card-time", "aria-label": "时间维度" }, h("option", { value: "" }, "不按时间"),
    cat.dimensions.filter((d) => d.time).map((d) => h("option", { value: d.key }, `按${d.label}`)));
  const dim = h("select", { id: "card-dimension", "aria-label": "拆分维度" }, h("option", { value: "" }, "不拆分"),
    cat.dimensions.filter((d) => !d.time && !(d.key === "team" && me.role !== "admin")).map((d) => h("option", { value: d.key }, d.label)));
  // A measure of the present moment (逾期任务): no time dimension, only by team or rep.
  const nowKeys = new Set(cat.measures.filter((m) => m.now).map((m) => m.key));
  const nowHint = h("p", { class: "muted", id: "card-now-hint", hidden: true }, "逾期任务为当前时刻的数字：不按时间，只能按团队或客户经理拆分。");
  measures.addEventListener("change", () => {
    const now = [...measures.querySelectorAll("input:checked")].some((i) => nowKeys.has(i.value));
    nowHint.hidden = !now;
    time.disabled = now;
    if (now) time.value = "";
    for (const o of dim.options) o.disabled = now && !["", "team", "owner"].includes(o.value);
    if (now && dim.selectedOptions[0]?.disabled) dim.value = "";
  });
  // Narrow the card to loan products, whatever its dimension (none ticked: every product).
  const products = h("fieldset", { class: "checks", id: "card-products" }, h("legend", {}, "贷款类型筛选（不选即全部）"),
    (cat.products || []).map((o) => h("label", { class: "check" }, h("input", { type: "checkbox", value: o.value, name: "product" }), o.label)));
  dim.addEventListener("change", () => { products.hidden = dim.value === "loan_type"; });
  const chart = h("select", { id: "card-chart", "aria-label": "图表类型" }, cat.charts.map((c) => h("option", { value: c.key }, c.label)));
  const range = h("select", { id: "card-range", "aria-label": "时间范围" }, state.ranges.map((r) =>
    h("option", { value: r.key, selected: r.key === "this_month" }, r.label)));
  const from = h("input", { type: "date", id: "card-from", value: shanghaiDate(-29), "aria-label": "开始日期", hidden: true });
  const to = h("input", { type: "date", id: "card-to", value: shanghaiDate(0), "aria-label": "结束日期", hidden: true });
  range.addEventListener("change", () => { from.hidden = to.hidden = range.value !== "custom"; });
  const wide = h("input", { type: "checkbox", id: "card-wide" });
  const preview = h("div", { id: "card-preview", class: "board-grid" });
  const build = () => {
    const chosen = [...measures.querySelectorAll("input:checked")].map((i) => i.value);
    const card = { card_id: Math.random().toString(36).slice(2, 10), title: title.value.trim() || "未命名卡片",
      chart: chart.value, range: range.value, width: wide.checked ? 2 : 1,
      query: { measures: chosen, dimensions: [time.value, dim.value].filter(Boolean), filters: {} } };
    const types = products.hidden ? [] : [...products.querySelectorAll("input:checked")].map((i) => i.value);
    if (types.length) card.query.filters.loan_type = types;
    if (range.value === "custom") Object.assign(card, { from: from.value, to: to.value });
    return card;
  };
  const check = (card) => {
    if (!card.query.measures.length) { toast("请至少选择一个指标"); return false; }
    return true;
  };
  const showPreview = () => {
    const card = build();
    if (!check(card)) return;
    preview.replaceChildren(cardView(card, { ...board, editable: false }));
  };
  const add = async () => {
    const card = build();
    if (!check(card)) return;
    try {
      await post("/reports/query", cardQuery(card));  // refused queries say why before the board changes
      board.cards = [...board.cards, card];
      await saveBoard(board);
      toast(`已添加卡片「${card.title}」`);
      const grid = document.getElementById("board-grid");
      grid.querySelector(".empty")?.remove();
      grid.append(cardView(card, board));
      preview.replaceChildren();
      title.value = "";
    } catch (err) { toast(err.message); }
  };
  return h("section", { class: "card", id: "card-editor", "aria-label": "卡片编辑器" }, h("h2", {}, "添加卡片"),
    h("label", {}, "标题", title), measures, nowHint, products,
    h("div", { class: "row" }, h("label", {}, "时间维度", time), h("label", {}, "拆分维度", dim),
      h("label", {}, "图表", chart), h("label", {}, "时间范围", range), from, to,
      h("label", { class: "check" }, wide, "宽卡片")),
    h("div", { class: "row" }, h("button", { type: "button", id: "card-preview-button", onclick: showPreview }, "预览"),
      h("button", { type: "button", class: "primary", id: "card-add", onclick: add }, "添加到看板")),
    preview);
}


// -- spend (admins) --------------------------------------------------------------------------------

function costPanel() {
  const box = h("section", { class: "card", id: "cost-panel", "aria-label": "投放成本" }, h("h2", {}, "投放成本"), loading());
  Promise.all([get("/config/lead-profile"), get("/partners")]).then(([profile, known]) => {
    const sources = profile.document?.options?.source || [];
    const source = h("select", { id: "cost-source", "aria-label": "渠道" }, sources.map((o) => h("option", { value: o.value }, o.label)));
    const period = h("select", { id: "cost-period", "aria-label": "按日或按月" }, h("option", { value: "day" }, "按天"), h("option", { value: "month" }, "按月"));
    const day = h("input", { type: "date", id: "cost-day", value: shanghaiDate(0), "aria-label": "日期" });
    const month = h("input", { type: "month", id: "cost-month", value: shanghaiDate(0).slice(0, 7), "aria-label": "月份", hidden: true });
    period.addEventListener("change", () => { day.hidden = period.value !== "day"; month.hidden = period.value !== "month"; });
    const campaign = h("input", { id: "cost-campaign", maxlength: 100, placeholder: "推广活动（可选）", "aria-label": "推广活动" });
    const partner = h("select", { id: "cost-partner", "aria-label": "合作方" }, h("option", { value: "" }, "合作方（可选）"),
      known.partners.filter((p) => p.active).map((p) => h("option", { value: p.partner_id }, p.label)));
    const amount = h("input", { id: "cost-amount", type: "number", min: 0, step: "0.01", placeholder: "金额（元）", "aria-label": "金额" });
    const list = h("div", { id: "cost-list" });
    const refresh = async () => {
      const m = (period.value === "month" ? month.value : day.value.slice(0, 7)) || shanghaiDate(0).slice(0, 7);
      const data = await get(`/costs?month=${m}`);
      mount(list, data.entries.length ? h("table", { class: "report-table" },
        h("thead", {}, h("tr", {}, ["渠道", "推广活动", "合作方", "日期/月份", "金额（元）"].map((t) => h("th", {}, t)))),
        h("tbody", {}, data.entries.map((e) => h("tr", {}, h("td", {}, e.source_label), h("td", {}, e.campaign || "—"),
          h("td", {}, e.partner_label || "—"), h("td", {}, e.day ? cnDate(e.day) : `${Number(e.month.slice(0, 4))}年${Number(e.month.slice(5))}月（整月）`), h("td", { class: "num" }, fmt("cost", e.amount))))))
        : h("p", { class: "muted" }, `${Number(m.slice(0, 4))}年${Number(m.slice(5))}月暂无成本记录`));
    };
    const save = async (e) => {
      e.preventDefault();
      const entry = { source: source.value, amount: Number(amount.value),
        ...(period.value === "day" ? { day: day.value } : { month: month.value }),
        ...(campaign.value.trim() ? { campaign: campaign.value.trim() } : {}), ...(partner.value ? { partner_id: partner.value } : {}) };
      try {
        const out = await post("/costs", { entries: [entry] });
        if (out.rejected) toast(`未保存：${Object.values(out.results[0].errors || {}).join("；")}`);
        else { toast("成本已保存"); amount.value = ""; await refresh(); }
      } catch (err) { toast(err.message); }
    };
    box.replaceChildren(h("h2", {}, "投放成本"),
      h("p", { class: "muted" }, "同一渠道、活动、合作方和日期再次录入会覆盖原金额；按月的花费平均分摊到当月每天。也可在“导入”页上传成本表。"),
      h("form", { class: "row", onsubmit: save }, source, period, day, month, campaign, partner, amount,
        h("button", { type: "submit", class: "primary", id: "cost-save" }, "保存")), list);
    refresh().catch((err) => mount(list, errorBox(err)));
  }).catch((err) => box.replaceChildren(h("h2", {}, "投放成本"), errorBox(err)));
  return box;
}
