// 规则 (admin): routing rules (editor, validation, dry-run, publish, rollback), SOP policies,
// option lists and custom fields, pool policy, cleaning rules. All are versioned documents under
// /api/config/{name}; a publish is refused with the field at fault and changes nothing.
import { post, put, get } from "../api.js";
import { ACTIVITY, busy, cardTable, h, leadLink, mount, section, STATUS, toast } from "../ui.js";

const TABS = [
  ["routing", "路由规则", routingTab], ["sop", "SOP 策略", sopTab], ["profile", "选项与字段", profileTab],
  ["pool", "公海策略", (el) => jsonTab(el, "pool")], ["cleaning", "清洗规则", (el) => jsonTab(el, "cleaning")],
  ["scoring", "线索评分", scoringTab],
];
const OPS = { eq: "等于", ne: "不等于", in: "属于", not_in: "不属于", range: "范围", prefix: "前缀为", exists: "已填写" };
const STRATEGY = { round_robin: "轮流分配", least_loaded: "最少持有优先", weighted: "按权重分配" };
const TRIGGERS = { assigned: "分配后", first_contact: "首次联系后" };
const TRIGGER_CHOICES = ["assigned", "first_contact", ...Object.keys(ACTIVITY).map((a) => `activity:${a}`),
  ...["contacted", "observing", "intent", "qualifying", "won", "lost"].map((st) => `status:${st}`)];

export async function render(view, { query }) {
  const body = h("div", { id: "rules-body" });
  const current = TABS.find(([k]) => k === query.tab) ? query.tab : "routing";
  const tabs = h("div", { class: "tabs", role: "tablist" }, TABS.map(([key, label]) =>
    h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(key === current),
      onclick: () => { location.hash = `#/rules?tab=${key}`; } }, label)));
  mount(view, h("h1", {}, "规则"), tabs, body);
  await TABS.find(([k]) => k === current)[2](body);
}

function trigger(on) {
  const [kind, value] = on.split(":");
  if (kind === "status") return `进入「${STATUS[value] || value}」`;
  if (kind === "activity") return `记录「${ACTIVITY[value] || value}」后`;
  return TRIGGERS[on] || on;
}

// Names for the codes a rule holds: the profile's fields and options, teams, reps (loaded with the tab).
const NAMES = { fields: {}, options: {}, teams: {}, users: {} };
const FIELD_NAMES = { city: "城市", province: "省份", region: "大区", amount: "贷款金额（万元）", source: "来源",
  loan_type: "贷款类型", purpose: "贷款用途", credit_status: "征信情况", customer_type: "客户类型",
  partner_id: "合作方", channel: "进线渠道", campaign: "活动", consent: "授权同意" };

async function loadNames() {
  const [profile, teams, users] = await Promise.all([get("/config/lead-profile").catch(() => null),
    get("/teams").catch(() => ({ items: [] })), get("/users").catch(() => ({ items: [] }))]);
  const doc = profile?.document || {};
  NAMES.fields = { ...FIELD_NAMES, ...Object.fromEntries((doc.custom_fields || []).map((f) => [f.key, f.label])) };
  NAMES.options = Object.fromEntries(Object.entries(doc.options || {}).map(([k, list]) => [k,
    Object.fromEntries(list.map((o) => [o.value, o.label]))]));
  for (const f of doc.custom_fields || []) NAMES.options[f.key] = Object.fromEntries((f.options || []).map((o) => [o.value, o.label]));
  NAMES.teams = Object.fromEntries(teams.items.map((t) => [t.team_id, t.label]));
  NAMES.users = Object.fromEntries(users.items.map((u) => [u.user_id, u.name]));
}

function optionName(field, value) {
  if (typeof value === "boolean") return value ? "是" : "否";
  return NAMES.options[field]?.[value] ?? value;
}

function condition(c) {
  if (!c) return "任何线索";
  if (c.all) return c.all.map(condition).join(" 且 ");
  if (c.any) return "(" + c.any.map(condition).join(" 或 ") + ")";
  if (c.not) return `非(${condition(c.not)})`;
  if (c.business_hours !== undefined || c.type === "business_hours") return "工作时间内";
  const values = Array.isArray(c.value) ? c.value : c.value === undefined || c.value === null ? [] : [c.value];
  const value = c.op === "range" && Array.isArray(c.value) ? `${c.value[0] ?? "不限"} 至 ${c.value[1] ?? "不限"}`
    : values.map((v) => optionName(c.field, v)).join("、");
  return `${NAMES.fields[c.field] || c.field} ${OPS[c.op] || c.op} ${value}`.trim();
}

function action(a) {
  if (!a) return "";
  const type = a.type || a.action;  // a rule's action, or a dry-run decision
  if (type === "assign_team") return `分配到团队 ${NAMES.teams[a.team] || a.team}（${STRATEGY[a.strategy] || "按规则分配"}）`;
  if (type === "assign_rep") return `分配给 ${NAMES.users[a.rep] || a.rep}`;
  return "进入公海";
}

/** The draft as data, or a Chinese message naming the line and column of the first mistake. */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    const at = /position (\d+)/.exec(String(err.message));
    let where = "";
    if (at) {
      const before = text.slice(0, Number(at[1])).split("\n");
      where = `第 ${before.length} 行第 ${before.at(-1).length + 1} 列附近`;
    }
    throw { message: `JSON 格式错误${where ? "：" + where : ""}，请检查括号、引号和逗号`,
      fields: where ? { 位置: where } : {} };
  }
}

/** Validate / publish / rollback buttons around a function that returns the draft document. */
function publishBar(name, draft, out, after) {
  const validate = h("button", { type: "button", id: `validate-${name}`, onclick: () => busy(validate, async () => {
    await post(`/config/${name}/validate`, draft());
    out.replaceChildren(h("div", { class: "ok", role: "status" }, "校验通过，可以发布"));
  }, out) }, "校验");
  const publish = h("button", { type: "button", class: "primary", id: `publish-${name}`, onclick: () => busy(publish, async () => {
    const result = await put(`/config/${name}`, draft());
    toast(`已发布第 ${result.version} 版`);
    after();
  }, out) }, "发布");
  const version = h("input", { type: "number", min: 1, placeholder: "版本号", "aria-label": "回滚到版本", style: "width:7em" });
  const rollback = h("button", { type: "button", onclick: () => busy(rollback, async () => {
    if (!version.value) throw { message: "请填写要回滚到的版本号" };
    const result = await post(`/config/${name}/rollback`, { version: Number(version.value) });
    toast(`已回滚：第 ${result.version} 版`);
    after();
  }, out) }, "回滚");
  return h("div", { class: "row" }, validate, publish, h("span", { class: "grow" }), version, rollback);
}

async function routingTab(el) {
  await loadNames();
  await section(el, () => get("/config/routing"), (doc) => {
    const text = h("textarea", { id: "routing-json", "aria-label": "路由规则（JSON）", spellcheck: false },
      JSON.stringify(doc.document, null, 2));
    const summary = h("div", { class: "scroll-x" });
    const out = h("div", { id: "routing-result" });
    const draft = () => parseJson(text.value);
    const drawSummary = () => {
      try {
        const rules = draft().rules || [];
        mount(summary, cardTable(["顺序", "规则", "条件", "动作"], rules.map((r, i) => [i + 1, `${r.name}（${r.id}）`,
          condition(r.when), action(r.action)]), { id: "rule-table" }));
      } catch (err) { mount(summary, h("p", { class: "field-error" }, err.message || "JSON 格式错误")); }
    };
    text.addEventListener("input", drawSummary);
    drawSummary();
    const days = h("select", { "aria-label": "试运行范围" }, [1, 7, 30].map((d) => h("option", { value: d, selected: d === 7 }, `近 ${d} 天的线索`)));
    const dry = h("button", { type: "button", id: "dry-run", onclick: () => busy(dry, async () => {
      const result = await post("/config/routing/dry-run", { draft: draft(), days: Number(days.value) });
      const rows = [...result.results].sort((a, b) => Number(b.changed) - Number(a.changed)).slice(0, 100);
      mount(out, h("div", { class: "ok", role: "status", id: "dry-run-summary" },
        `试运行：共 ${result.leads} 条线索，${result.changed} 条去向改变`),
      rows.length ? cardTable(["线索", "现行规则", "草稿规则", "变化"], rows.map((r) => [
        r.lead_id === "draft" ? "示例" : leadLink(r.lead_id),
        h("span", {}, action(r.live), h("div", { class: "muted" }, r.live.reason)),
        h("span", {}, action(r.draft), h("div", { class: "muted" }, r.draft.reason)),
        r.changed ? h("span", { class: "tag s-intent" }, "改变") : "—"]), { id: "dry-run-table" }) : null);
    }, out) }, "试运行");
    const addRule = h("button", { type: "button", onclick: () => busy(addRule, async () => {
      const doc2 = draft();
      const rule = { id: `r${Date.now() % 100000}`, name: "新规则", when: { field: "city", op: "eq", value: "北京" },
        action: { type: "pool" } };
      const last = doc2.rules.length && !doc2.rules.at(-1).when ? doc2.rules.length - 1 : doc2.rules.length;
      doc2.rules.splice(last, 0, rule);
      text.value = JSON.stringify(doc2, null, 2);
      drawSummary();
    }, out) }, "添加规则");
    return [
      h("p", { class: "muted" }, `当前第 ${doc.version} 版。规则按顺序匹配，第一条命中的生效；最后一条通常是“其他进公海”。`),
      summary,
      h("div", { class: "row" }, addRule),
      h("label", { style: "display:flex" }, "规则（JSON，可直接编辑）", text),
      h("div", { class: "row" }, days, dry),
      publishBar("routing", draft, out, () => routingTab(el)),
      out,
    ];
  });
}

async function sopTab(el) {
  await section(el, () => get("/config/sop"), (doc) => {
    const policy = structuredClone(doc.document);
    const out = h("div");
    const tbody = h("div");
    const draw = () => mount(tbody, cardTable(["任务", "触发", "到期（分钟）", ""], policy.tasks.map((t, i) => [
      h("input", { value: t.title, "aria-label": "任务标题", oninput: (e) => { t.title = e.target.value; } }),
      h("select", { "aria-label": "触发条件", onchange: (e) => { t.on = e.target.value; } },
        [...new Set([...TRIGGER_CHOICES, t.on])].map((v) => h("option", { value: v, selected: v === t.on }, trigger(v)))),
      h("input", { type: "number", min: 1, value: t.due_minutes, "aria-label": "到期（分钟）",
        oninput: (e) => { t.due_minutes = Number(e.target.value); } }),
      h("button", { type: "button", class: "danger", onclick: () => { policy.tasks.splice(i, 1); draw(); } }, "删除")]), { id: "sop-table" }));
    draw();
    const number = (key, label) => h("label", {}, label, h("input", { type: "number", value: policy[key] ?? "",
      oninput: (e) => { policy[key] = e.target.value === "" ? null : Number(e.target.value); } }));
    return [
      h("p", { class: "muted" }, `当前第 ${doc.version} 版。新策略对之后的线索生效。`),
      tbody,
      h("button", { type: "button", onclick: () => { policy.tasks.push({ id: `t${Date.now() % 100000}`, on: "assigned", title: "新任务", due_minutes: 60 }); draw(); } }, "添加任务规则"),
      h("div", { class: "row card" }, number("reclaim_uncontacted_minutes", "未联系自动收回（分钟）"),
        number("escalate_overdue_after_minutes", "逾期升级主管（分钟）"), number("no_activity_minutes", "长期未跟进（分钟）"),
        number("no_activity_due_minutes", "未跟进任务期限（分钟）")),
      publishBar("sop", () => policy, out, () => sopTab(el)), out,
    ];
  });
}

const OPTION_LABELS = { loan_type: "贷款类型", purpose: "贷款用途", credit_status: "征信情况", source: "来源",
  customer_type: "客户类型" };

async function profileTab(el) {
  await section(el, () => get("/config/lead-profile"), (doc) => {
    const profile = structuredClone(doc.document);
    const out = h("div");
    const optionList = (key) => {
      const tbody = h("div");
      const draw = () => mount(tbody, cardTable(["取值", "显示名称", ""], profile.options[key].map((o, i) => [
        h("input", { value: o.value, "aria-label": "取值", oninput: (e) => { o.value = e.target.value.trim(); } }),
        h("input", { value: o.label, "aria-label": "显示名称", oninput: (e) => { o.label = e.target.value.trim(); } }),
        h("button", { type: "button", class: "danger", onclick: () => { profile.options[key].splice(i, 1); draw(); } }, "删除")])));
      draw();
      return h("details", { class: "card" }, h("summary", {}, `${OPTION_LABELS[key] || key}（${profile.options[key].length} 项）`),
        tbody,
        h("button", { type: "button", onclick: () => { profile.options[key].push({ value: "", label: "" }); draw(); } }, "添加选项"));
    };
    const fields = h("div");
    const drawFields = () => mount(fields, cardTable(["标识", "名称", "类型", "选项", "必填", ""], (profile.custom_fields || []).map((f, i) => [
      h("input", { value: f.key, "aria-label": "字段标识", oninput: (e) => { f.key = e.target.value.trim(); } }),
      h("input", { value: f.label, "aria-label": "字段名称", oninput: (e) => { f.label = e.target.value.trim(); } }),
      h("select", { "aria-label": "字段类型", onchange: (e) => { f.type = e.target.value; } },
        [["text", "文本"], ["number", "数字"], ["option", "选项"], ["date", "日期"]].map(([v, t]) => h("option", { value: v, selected: f.type === v }, t))),
      h("input", { value: (f.options || []).map((o) => `${o.value}=${o.label}`).join("，"), "aria-label": "选项（取值=名称，逗号分隔）",
        placeholder: "a=甲，b=乙", oninput: (e) => { f.options = e.target.value.split(/[,，]/).map((s) => s.trim()).filter(Boolean)
          .map((s) => { const [value, label] = s.split("="); return { value: value.trim(), label: (label || value).trim() }; }); } }),
      h("input", { type: "checkbox", checked: f.required, "aria-label": "必填", onchange: (e) => { f.required = e.target.checked; } }),
      h("button", { type: "button", class: "danger", onclick: () => { profile.custom_fields.splice(i, 1); drawFields(); } }, "删除")]), { id: "field-table" }));
    drawFields();
    return [
      h("p", { class: "muted" }, `当前第 ${doc.version} 版。选项和自定义字段无需发版即生效。`),
      h("h2", {}, "选项列表"), Object.keys(profile.options).map(optionList),
      h("h2", {}, "自定义字段"),
      fields,
      h("button", { type: "button", onclick: () => { (profile.custom_fields ||= []).push({ key: "", label: "", type: "text" }); drawFields(); } }, "添加字段"),
      publishBar("lead-profile", () => profile, out, () => profileTab(el)), out,
    ];
  });
}

async function jsonTab(el, name) {
  await section(el, () => get(`/config/${name}`), (doc) => {
    const text = h("textarea", { "aria-label": "配置（JSON）", spellcheck: false }, JSON.stringify(doc.document, null, 2));
    const out = h("div");
    return [h("p", { class: "muted" }, `当前第 ${doc.version} 版。`), text,
      publishBar(name, () => parseJson(text.value), out, () => jsonTab(el, name)), out];
  });
}

// 线索评分: which scorer is in force (the model trained on closed leads, or the prior weights below
// until there are enough), the model's figures, training on demand, and the policy as JSON (prior
// points per field value, excluded fields, bands, minimum history, window).
async function scoringTab(el) {
  const status = await get("/scoring").catch(() => null);
  const out = h("div");
  const model = status?.model;
  const train = h("button", { type: "button", id: "scoring-train", onclick: () => busy(train, async () => {
    const result = await post("/scoring/train");
    toast(result.trained ? `已训练第 ${result.version} 版模型（AUC ${result.auc}）` : result.message);
    scoringTab(el);
  }, out) }, "立即训练");
  const head = h("section", { class: "card", id: "scoring-status" },
    h("p", {}, `当前评分依据：${status?.basis_label || "—"}（至少 ${status?.min_closed_leads ?? "—"} 条已结案线索后使用历史模型）`),
    model ? h("p", { class: "muted" }, `模型第 ${status.model_version} 版：样本 ${model.samples.total} 条（签约 ${model.samples.won ?? "—"}），`
      + `留出集 AUC ${model.auc}、Brier ${model.brier}；所用字段：${model.features.join("、")}`) : null,
    h("div", { class: "row" }, train), out);
  el.replaceChildren(head, h("div", { id: "scoring-policy" }));
  await jsonTab(el.querySelector("#scoring-policy"), "scoring");
}
