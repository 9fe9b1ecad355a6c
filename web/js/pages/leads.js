// 我的线索: reps their own, supervisors their team, admins everyone (by day). Filter by status,
// search by name or phone tail, sort by next follow-up; supervisors assign in bulk; export to Excel.
// The dashboard's figures open this page with their `drill` filters (from, to, team, owner, source,
// partner_id, loan_type, region, customer_type, stage; a report's custom.<key> and city_not), shown as a
// removable filter line of labels.
import { get, query } from "../api.js";
import { busy, download, empty, errorBox, h, loading, mount, shanghaiDate, STATUS } from "../ui.js";
import { assignableReps, assignBar, leadCard } from "./common.js";

export const DRILL = ["team", "owner", "first_team", "first_owner", "source", "partner_id", "loan_type", "region",
  "province", "customer_type", "stage", "score_band", "purpose", "credit_status", "city", "form_id", "campaign"];
// Besides DRILL: a report's custom-field rows (`custom.<key>`) and top-N 其他 rows (`city_not=a,b`).
export const NOT_DRILL = ["city_not", "campaign_not"];
const isDrill = (k) => DRILL.includes(k) || NOT_DRILL.includes(k) || k.startsWith("custom.");
const STAGE = { valid: "有效线索", intent: "意向客户", won: "签约客户", first_contact: "已首次联系" };

export async function render(view, { me, query: q }) {
  const custom = Boolean(q.from || q.to);
  const state = { status: q.status || "", search: "", sort: "follow", days: custom ? "custom" : q.days || "30",
    items: [], cursor: null };
  const drill = Object.fromEntries(Object.keys(q).filter((k) => q[k] && isDrill(k)).map((k) => [k, q[k]]));
  const canAssign = me.role !== "rep";
  const list = h("ul", { class: "list", id: "lead-list" });
  const more = h("button", { type: "button", hidden: true, onclick: () => load(false) }, "加载更多");
  const slot = h("div");
  const selected = new Set();
  let followUps = new Map();

  const statusSelect = h("select", { id: "f-status", "aria-label": "状态", onchange: (e) => { state.status = e.target.value; load(true); } },
    h("option", { value: "" }, "全部状态"),
    Object.entries(STATUS).map(([value, label]) => h("option", { value, selected: value === state.status }, label)));
  const daysSelect = h("select", { "aria-label": "时间范围", onchange: (e) => { state.days = e.target.value; load(true); } },
    custom ? h("option", { value: "custom", selected: true }, `${(q.from || "…").replaceAll("-", "/")} 至 ${(q.to || "今天").replaceAll("-", "/")}`) : null,
    [["7", "近 7 天"], ["30", "近 30 天"], ["90", "近 90 天"], ["365", "近一年"]].map(([v, t]) =>
      h("option", { value: v, selected: v === state.days }, t)));
  const search = h("input", { type: "search", id: "f-search", placeholder: "姓名或手机尾号", "aria-label": "搜索姓名或手机尾号",
    oninput: (e) => { state.search = e.target.value.trim(); draw(); } });
  const sort = h("select", { "aria-label": "排序", onchange: (e) => { state.sort = e.target.value; draw(); } },
    h("option", { value: "follow" }, "按下次跟进"), h("option", { value: "new" }, "最新创建"));
  const exportOut = h("div");
  const exportButton = h("button", { type: "button", id: "export-leads", onclick: () => busy(exportButton, async () => {
    const file = await get("/exports/leads" + query(filters()));
    download(file.url, file.filename);
    exportOut.replaceChildren(h("div", { class: "ok", role: "status" },
      `已导出 ${file.rows} 条${file.truncated ? `（超过上限，仅导出前 ${file.rows} 条）` : ""}：`,
      h("a", { href: file.url, download: file.filename }, file.filename)));
  }, exportOut) }, "导出Excel");

  const bulk = canAssign ? await bulkBar() : null;

  mount(view, h("h1", {}, q.title ? `看板明细：${q.title}` : me.role === "rep" ? "我的线索" : me.role === "supervisor" ? "团队线索" : "全部线索"),
    Object.keys(drill).length ? await drillLine(drill) : null,
    h("div", { class: "card row" }, statusSelect, daysSelect, search, sort, exportButton), exportOut, bulk, slot, list, more);
  await load(true);

  /** The server-side filters (the list and the export share them). */
  function filters() {
    const range = state.days === "custom" ? { from: q.from, to: q.to } : { from: shanghaiDate(-(Number(state.days) - 1)) };
    return { status: state.status, ...drill, ...range };
  }

  async function load(reset) {
    if (reset) { state.items = []; state.cursor = null; selected.clear(); mount(list, loading()); }
    slot.replaceChildren();
    try {
      const [page, tasks] = await Promise.all([
        get("/leads" + query({ ...filters(), limit: 50, cursor: state.cursor })),
        reset ? get("/tasks").catch(() => null) : null,
      ]);
      if (tasks) followUps = nextDue(tasks);
      state.items.push(...page.items);
      state.cursor = page.cursor;
      draw();
    } catch (err) {
      mount(list);
      slot.replaceChildren(errorBox(err));
    }
  }

  function draw() {
    const term = state.search;
    const digits = /^\d+$/.test(term);
    let items = state.items.filter((l) => !term || (digits ? String(l.phone || "").replace(/\D/g, "").endsWith(term)
      : String(l.name || "").includes(term)));
    const follow = (l) => l.next_follow_up || followUps.get(l.lead_id) || "~";
    items = [...items].sort((a, b) => state.sort === "new" ? b.created_at.localeCompare(a.created_at)
      : follow(a).localeCompare(follow(b)) || b.created_at.localeCompare(a.created_at));
    more.hidden = !state.cursor;
    if (!items.length) { mount(list, empty(term ? "没有匹配的线索" : "暂无线索")); return; }
    mount(list, items.map((lead) => leadCard(lead, { showOwner: me.role !== "rep",
      nextFollowUp: lead.next_follow_up || followUps.get(lead.lead_id),
      select: canAssign ? h("input", { type: "checkbox", "aria-label": `选择 ${lead.name || lead.lead_id}`,
        checked: selected.has(lead.lead_id),
        onchange: (e) => { if (e.target.checked) selected.add(lead.lead_id); else selected.delete(lead.lead_id); } }) : null,
    })));
  }

  async function bulkBar() {
    const reps = await assignableReps(me).catch(() => []);
    return assignBar({ reps, button: "批量分配", leadIds: () => [...selected],
      nameOf: (id) => state.items.find((l) => l.lead_id === id)?.name || "（未留姓名）", onDone: () => load(true) });
  }
}

// The drill filters by name: teams, people and the lead profile's options are shown by their labels.
async function drillLine(drill) {
  const names = { team: "团队", owner: "负责人", first_team: "团队", first_owner: "销售", source: "渠道", partner_id: "合作方",
    loan_type: "贷款类型", region: "大区", province: "省份", customer_type: "客户类型", stage: "阶段", score_band: "评分档",
    purpose: "资金用途", credit_status: "征信情况", city: "城市", form_id: "表单", campaign: "推广活动" };
  const keys = Object.keys(drill);
  const wants = (...k) => k.some((key) => keys.includes(key));
  const [teams, users, profile] = await Promise.all([
    wants("team", "first_team") ? get("/teams").catch(() => null) : null,
    wants("owner", "first_owner") ? get("/users").catch(() => null) : null,
    wants("source", "loan_type", "customer_type", "purpose", "credit_status") || keys.some((k) => k.startsWith("custom."))
      ? get("/config/lead-profile").catch(() => null) : null,
  ]);
  const label = (k, v) => {
    if (v === "_none") return ["team", "owner", "first_team", "first_owner"].includes(k) ? "公海（未分配）" : k === "score_band" ? "未评分" : "未填写";
    if (k === "stage") return STAGE[v] || v;
    if (k === "score_band") return { high: "高", medium: "中", low: "低" }[v] || v;
    if (k === "team" || k === "first_team") return teams?.items.find((t) => t.team_id === v)?.label || "所选团队";
    if (k === "owner" || k === "first_owner") return users?.items.find((u) => u.user_id === v)?.name || "所选销售";
    if (k === "partner_id") return "所选合作方";
    if (NOT_DRILL.includes(k)) {
      const shown = v.split(",").map((x) => (x === "_none" ? "未填写" : x));
      return `其他（不含${shown.slice(0, 3).join("、")}${shown.length > 3 ? `等 ${shown.length} 项` : ""}）`;
    }
    if (k.startsWith("custom.")) {
      const field = profile?.document?.custom_fields?.find((f) => f.key === k.slice(7));
      return field?.options?.find((o) => o.value === v)?.label || "所选选项";
    }
    const options = profile?.document?.options?.[k];
    return options ? options.find((o) => o.value === v)?.label || v : v;
  };
  const nameOf = (k) => names[k] || names[k.replace(/_not$/, "")]
    || profile?.document?.custom_fields?.find((f) => `custom.${f.key}` === k)?.label || "自定义字段";
  return h("div", { class: "card row", id: "drill-filters" }, h("span", { class: "muted" }, "筛选："),
    Object.entries(drill).map(([k, v]) => h("span", { class: "tag", dataset: { filter: k } }, `${nameOf(k)}：${label(k, v)}`)),
    h("a", { href: "#/leads" }, "清除筛选"));
}

function nextDue(tasks) {
  const due = new Map();
  for (const task of [...tasks.overdue, ...tasks.today, ...tasks.upcoming]) {
    if (!due.has(task.lead_id) || task.due_at < due.get(task.lead_id)) due.set(task.lead_id, task.due_at);
  }
  return due;
}
