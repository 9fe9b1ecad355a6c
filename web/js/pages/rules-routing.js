// 路由规则 as a form: rules in order (drag, or 上移/下移 by keyboard and on a phone), enable, duplicate,
// delete; conditions from the lead profile's fields with the control each type needs, in AND/OR
// groups; the action (team + strategy by name + weights per rep, one rep, or the pool); a summary of
// each rule in words; a live preview of the last days' leads under the draft (the dry-run).
// A supervisor sees it all read-only except the weights of their own team's rules.
import { get, post } from "../api.js";
import { cardTable, h, leadLink, mount } from "../ui.js";
import { editor, FormErrors } from "./config-kit.js";

export const STRATEGY = { round_robin: "轮流分配", least_loaded: "最少持有优先", weighted: "按权重分配" };
const ACTION = { assign_team: "分配给团队", assign_rep: "分配给个人", pool: "进入公海" };
const PRIORITY = { normal: "普通", high: "高", low: "低" };
const CHANNELS = { public: "官网表单等公开渠道", partner: "合作方接口", import: "批量导入", manual: "手工录入" };
// field → [label, kind]; kinds: option (profile list), place (city/province picker), region, amount
// (range in 万元), number (range), text (等于/前缀), partner, channel, hours (business hours).
const FIELDS = {
  city: ["城市", "place"], province: ["省份", "place"], region: ["大区", "region"], loan_type: ["贷款类型", "option"],
  amount: ["贷款金额（万元）", "amount"], purpose: ["资金用途", "option"], credit_status: ["征信情况", "option"],
  customer_type: ["客户画像", "option"], source: ["线索来源", "option"], channel: ["进线渠道", "channel"],
  partner_id: ["合作方", "partner"], campaign: ["活动", "text"], utm_source: ["广告来源（utm_source）", "text"],
  score: ["评分", "number"], business_hours: ["工作时间", "hours"],
};
const OPS = { option: ["in", "not_in"], place: ["in", "not_in"], region: ["in", "not_in"], channel: ["in", "not_in"],
  partner: ["in", "not_in"], amount: ["range"], number: ["range"], text: ["eq", "prefix", "exists"], date: ["eq"] };
const OP_LABEL = { in: "是其中之一", not_in: "不是其中任何一个", eq: "等于", prefix: "开头是", exists: "已填写", range: "在范围内" };

/** The context a form draws from: profile fields and options, teams and reps, places, partners. */
export function routingContext(doc, profile, me) {
  const c = doc.choices || { teams: [], partners: {}, cities: [], provinces: [], regions: [] };
  const options = Object.fromEntries(Object.entries(profile.options || {}).map(([k, list]) => [k, list]));
  const fields = { ...FIELDS };
  for (const f of profile.custom_fields || []) {
    // A multi-choice field is offered like an option list: "是其中之一" holds when any chosen value is listed.
    const choice = f.type === "option" || f.type === "multi";
    fields[`custom.${f.key}`] = [f.label, choice ? "option" : f.type === "number" ? "number" : f.type === "date" ? "date" : "text"];
    if (choice) options[`custom.${f.key}`] = f.options || [];
  }
  const teams = Object.fromEntries(c.teams.map((t) => [t.team_id, t]));
  const people = Object.fromEntries(c.teams.flatMap((t) => t.reps.map((r) => [r.user_id, r.name])));
  return { fields, options, teams, people, partners: { ...c.partners }, cities: c.cities, provinces: c.provinces,
    regions: c.regions, me, supervisor: me.role === "supervisor" };
}

const list = (v) => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const wan = (n) => `${n} 万`;

function valueName(ctx, field, value) {
  const kind = ctx.fields[field]?.[1];
  if (kind === "option") return (ctx.options[field] || []).find((o) => o.value === value)?.label ?? value;
  if (kind === "channel") return CHANNELS[value] || value;
  if (kind === "partner") return ctx.partners[value] || value;
  return value;
}

/** One condition in words: 北京 · 个人信用贷 · 金额 ≥ 50 万. */
export function conditionText(ctx, c, top = true) {
  if (!c) return "任何线索";
  if (c.all) return c.all.length ? (top ? "" : "（") + c.all.map((x) => conditionText(ctx, x, false)).join(" · ") + (top ? "" : "）") : "任何线索";
  if (c.any) return "（" + c.any.map((x) => conditionText(ctx, x, false)).join(" 或 ") + "）";
  if (c.not) return `非${conditionText(ctx, c.not, false)}`;
  if (c.business_hours !== undefined) return c.business_hours ? "工作时间内" : "非工作时间";
  const [label, kind] = ctx.fields[c.field] || [c.field, "text"];
  if (c.op === "range") {
    const { min, max } = c.value || {};
    const unit = kind === "amount" ? wan : (n) => String(n);
    const name = kind === "amount" ? "金额" : label;
    if (min !== undefined && max !== undefined) return `${name} ${unit(min)}–${unit(max)}`;
    return min !== undefined ? `${name} ≥ ${unit(min)}` : `${name} ≤ ${unit(max)}`;
  }
  if (c.op === "exists") return c.value ? `${label}已填写` : `${label}未填写`;
  if (c.op === "prefix") return `${label}以「${c.value}」开头`;
  const names = list(c.value).map((v) => valueName(ctx, c.field, v)).join("、");
  const bare = ["place", "region", "option", "channel", "partner"].includes(kind);
  if (c.op === "ne" || c.op === "not_in") return `${label}不是${names}`;
  return bare ? names : `${label}为${names}`;
}

export function actionText(ctx, a) {
  if (!a) return "";
  const type = a.type || a.action;
  if (type === "assign_team") {
    const team = ctx.teams[a.team]?.label || "（未选团队）";
    let text = `${team}，${STRATEGY[a.strategy] || "（未选策略）"}`;
    if (a.strategy === "weighted" && a.weights) text += `（${Object.entries(a.weights || {}).map(([r, w]) => `${ctx.people[r] || "（已移除的成员）"} ${w}`).join("、")}）`;
    return text;
  }
  if (type === "assign_rep") return ctx.people[a.rep] || "（未选销售）";
  return "公海";
}

export function ruleText(ctx, rule) {
  const when = conditionText(ctx, rule.when);
  return `${when} → ${actionText(ctx, rule.action)}${rule.enabled === false ? "（已停用）" : ""}`;
}

/** The rule set in words, for the publish diff: one line per rule (by name) and its place in the order. */
export function describeRouting(ctx, docu) {
  const lines = new Map();
  (docu.rules || []).forEach((r, i) => lines.set(`规则「${r.name}」`, `第 ${i + 1} 条：${ruleText(ctx, r)}`));
  const cal = docu.calendar || {};
  lines.set("工作时间", Object.entries(cal.hours || {}).map(([d, [a, b]]) => `${WEEK[d]} ${a}–${b}`).join("，") || "未设置");
  lines.set("节假日与调休", `节假日 ${(cal.holidays || []).length} 天，调休工作日 ${(cal.workdays || []).length} 天`);
  return lines;
}
const WEEK = { mon: "周一", tue: "周二", wed: "周三", thu: "周四", fri: "周五", sat: "周六", sun: "周日" };

/** Form mistakes, keyed by what a person calls the place (第 2 条规则「北京信贷」的条件). */
export function checkRouting(ctx, docu) {
  const errors = {};
  const names = new Set();
  (docu.rules || []).forEach((r, i) => {
    const where = `第 ${i + 1} 条规则「${r.name || "未命名"}」`;
    if (!r.name || !r.name.trim()) errors[`${where}的名称`] = "请填写规则名称";
    else if (r.name.length > 40) errors[`${where}的名称`] = "不能超过 40 个字";
    else if (names.has(r.name)) errors[`${where}的名称`] = "与其他规则重名";
    names.add(r.name);
    const walk = (c) => {
      if (!c) return;
      if (c.all || c.any) { const kids = c.all || c.any; if (!kids.length && c.any) errors[`${where}的条件`] = "“任一”条件组至少要有一个条件"; kids.forEach(walk); return; }
      if (c.not) { walk(c.not); return; }
      if (c.business_hours !== undefined) return;
      const label = ctx.fields[c.field]?.[0] || c.field;
      if (c.op === "range") {
        const { min, max } = c.value || {};
        if (min === undefined && max === undefined) errors[`${where}的${label}`] = "请至少填写最低或最高值";
        else if (min !== undefined && max !== undefined && min > max) errors[`${where}的${label}`] = "最低值不能大于最高值";
      } else if (["in", "not_in"].includes(c.op) && !list(c.value).length) errors[`${where}的${label}`] = "请至少选择一项";
      else if (["eq", "prefix"].includes(c.op) && (c.value === "" || c.value === undefined)) errors[`${where}的${label}`] = "请填写取值";
    };
    walk(r.when);
    const a = r.action;
    if (a.type === "assign_team") {
      if (!a.team) errors[`${where}的团队`] = "请选择团队";
      if (!a.strategy) errors[`${where}的分配方式`] = "请选择分配方式";
      if (a.strategy === "weighted") {
        const weights = Object.values(a.weights || {});
        if (!weights.length) errors[`${where}的权重`] = "按权重分配时至少给一位成员设置权重";
        if (weights.some((w) => !Number.isInteger(w) || w <= 0 || w > 100)) errors[`${where}的权重`] = "权重须为 1–100 的整数（0 表示不参与）";
      }
    } else if (a.type === "assign_rep" && !a.rep) errors[`${where}的负责人`] = "请选择销售";
  });
  return errors;
}

/** The API's keys (`rules[2] (r3)`) as the form names them. */
export function routingFieldName(docu) {
  return (key) => {
    const m = /^rules\[(\d+)\]/.exec(key);
    if (m) return `第 ${Number(m[1]) + 1} 条规则「${docu.rules?.[Number(m[1])]?.name || ""}」`;
    return { calendar: "工作时间", rules: "规则", body: "内容", 位置: "位置", version: "版本" }[key] || key;
  };
}

// --- the form ------------------------------------------------------------------------------------

function newId(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

function leafFor(ctx, field) {
  const kind = ctx.fields[field]?.[1];
  if (kind === "hours") return { business_hours: true };
  if (kind === "amount" || kind === "number") return { field, op: "range", value: { min: 0 } };
  if (kind === "text" || kind === "date") return { field, op: "eq", value: "" };
  return { field, op: "in", value: [] };
}

/** Checkboxes (a multi-select) of labelled values; an empty list shows nothing is chosen yet. */
function multi(label, choices, chosen, onchange, disabled) {
  const set = new Set(chosen);
  return h("fieldset", { class: "chips multi", "aria-label": label },
    choices.map(([value, text, retired]) => h("label", { class: "inline chip" },
      h("input", { type: "checkbox", checked: set.has(value), disabled, "aria-label": text, onchange: (e) => {
        if (e.target.checked) set.add(value); else set.delete(value);
        onchange([...set]);
      } }), retired ? `${text}（已停用）` : text)));
}

/** A picker for places: type (with suggestions) and add; each chosen one removable. */
function places(label, suggestions, chosen, onchange, disabled) {
  const values = [...chosen];
  const box = h("span", { class: "chips" });
  const id = newId("dl");
  const input = h("input", { list: id, placeholder: `输入${label}，回车添加`, "aria-label": `添加${label}`, disabled, size: 10 });
  const draw = () => mount(box, values.map((v, i) => h("span", { class: "tag chip-tag" }, v, disabled ? null :
    h("button", { type: "button", class: "link", "aria-label": `移除${v}`, onclick: () => { values.splice(i, 1); onchange([...values]); draw(); } }, "×"))));
  const add = () => {
    const v = input.value.trim();
    if (v && !values.includes(v)) { values.push(v); onchange([...values]); draw(); }
    input.value = "";
  };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); add(); } });
  input.addEventListener("change", add);
  draw();
  return h("span", { class: "row" }, box, input, h("datalist", { id }, suggestions.map((s) => h("option", { value: s }))));
}

function numberInput(label, value, onchange, disabled, attrs = {}) {
  return h("label", {}, label, h("input", { type: "number", value: value ?? "", disabled, "aria-label": label, style: "width:7em", ...attrs,
    oninput: (e) => onchange(e.target.value === "" ? undefined : Number(e.target.value)) }));
}

function leafEditor(ctx, leaf, replace, remove, changed, ro) {
  const fieldSelect = h("select", { "aria-label": "条件字段", disabled: ro, onchange: (e) => { replace(leafFor(ctx, e.target.value)); } },
    Object.entries(ctx.fields).map(([k, [label]]) => h("option", { value: k, selected: k === (leaf.business_hours !== undefined ? "business_hours" : leaf.field) }, label)));
  let control;
  const kind = leaf.business_hours !== undefined ? "hours" : ctx.fields[leaf.field]?.[1] || "text";
  const opSelect = (ops) => h("select", { "aria-label": "条件关系", disabled: ro, onchange: (e) => {
    const op = e.target.value;
    if (op === "exists") leaf.value = true; else if (leaf.op === "exists") leaf.value = op.endsWith("in") ? [] : "";
    leaf.op = op; replace(leaf);
  } }, ops.map((op) => h("option", { value: op, selected: op === (leaf.op === "eq" && kind !== "text" && kind !== "date" ? "in" : leaf.op === "ne" ? "not_in" : leaf.op) }, OP_LABEL[op])));
  const setList = (values) => {
    // One value is stored as 等于 (eq), several as 属于 (in): both mean the same to a person.
    const negative = leaf.op === "not_in" || leaf.op === "ne";
    leaf.op = values.length === 1 ? (negative ? "ne" : "eq") : (negative ? "not_in" : "in");
    leaf.value = values.length === 1 ? values[0] : values;
    changed();
  };
  const opsFor = (k) => ["in", "not_in"].includes(leaf.op) || ["eq", "ne"].includes(leaf.op) ? OPS[k] : OPS[k];
  if (kind === "hours") {
    control = h("select", { "aria-label": "工作时间", disabled: ro, onchange: (e) => { leaf.business_hours = e.target.value === "1"; changed(); } },
      h("option", { value: "1", selected: leaf.business_hours }, "在工作时间内"), h("option", { value: "0", selected: !leaf.business_hours }, "在工作时间外"));
  } else if (kind === "option" || kind === "region" || kind === "channel") {
    const choices = kind === "option" ? (ctx.options[leaf.field] || []).filter((o) => o.active !== false || list(leaf.value).includes(o.value)).map((o) => [o.value, o.label, o.active === false])
      : kind === "region" ? ctx.regions.map((r) => [r, r]) : Object.entries(CHANNELS);
    control = [opSelect(opsFor(kind)), multi(ctx.fields[leaf.field][0], choices, list(leaf.value), setList, ro)];
  } else if (kind === "place") {
    control = [opSelect(OPS.place), places(ctx.fields[leaf.field][0], leaf.field === "city" ? ctx.cities : ctx.provinces, list(leaf.value), setList, ro)];
  } else if (kind === "partner") {
    control = [opSelect(OPS.partner), places("合作方编号", Object.keys(ctx.partners), list(leaf.value), setList, ro)];
  } else if (kind === "amount" || kind === "number") {
    const v = leaf.value || {};
    const unit = kind === "amount" ? "（万元）" : "";
    const set = (key) => (n) => { if (n === undefined) delete v[key]; else v[key] = n; leaf.value = v; changed(); };
    control = h("span", { class: "row" }, numberInput(`最低${unit}`, v.min, set("min"), ro, { min: 0, step: "any" }), "至",
      numberInput(`最高${unit}`, v.max, set("max"), ro, { min: 0, step: "any" }), h("span", { class: "muted" }, "留空表示不限"));
  } else {
    control = [opSelect(OPS[kind] || OPS.text), leaf.op === "exists" ? null : h("input", { value: leaf.value ?? "", "aria-label": "取值", disabled: ro,
      oninput: (e) => { leaf.value = e.target.value; changed(); } })];
  }
  return h("div", { class: "row cond" }, fieldSelect, control,
    ro ? null : h("button", { type: "button", class: "link", "aria-label": "删除此条件", onclick: remove }, "删除"));
}

function groupEditor(ctx, group, redraw, changed, ro, depth, removeGroup) {
  const key = group.any ? "any" : "all";
  const kids = group[key];
  const mode = h("select", { "aria-label": "条件组合方式", disabled: ro, onchange: (e) => {
    const next = e.target.value;
    if (next !== key) { group[next] = kids; delete group[key]; redraw(); }
  } }, h("option", { value: "all", selected: key === "all" }, "全部满足（且）"), h("option", { value: "any", selected: key === "any" }, "任一满足（或）"));
  const rows = kids.map((c, i) => {
    const replace = (next) => { kids[i] = next; redraw(); };
    const remove = () => { kids.splice(i, 1); redraw(); };
    if (c.all || c.any) return groupEditor(ctx, c, redraw, changed, ro, depth + 1, remove);
    if (c.not) return h("div", { class: "row cond muted" }, conditionText(ctx, c), "（此条件请在“高级（JSON）”中修改）",
      ro ? null : h("button", { type: "button", class: "link", onclick: remove }, "删除"));
    return leafEditor(ctx, c, replace, remove, changed, ro);
  });
  return h("div", { class: depth ? "group nested" : "group" },
    h("div", { class: "row" }, "满足以下", mode, "条件", depth && !ro ? h("button", { type: "button", class: "link", onclick: removeGroup }, "删除此组") : null),
    kids.length ? rows : h("p", { class: "muted" }, "没有条件：任何线索都命中（兜底规则）"),
    ro ? null : h("div", { class: "row" },
      h("button", { type: "button", class: "add-condition", onclick: () => { kids.push(leafFor(ctx, "city")); redraw(); } }, "+ 条件"),
      depth ? null : h("button", { type: "button", class: "add-group", onclick: () => { kids.push({ any: [leafFor(ctx, "city")] }); redraw(); } }, "+ 条件组（或）")));
}

function actionEditor(ctx, rule, redraw, changed, ro, weightsEditable) {
  const a = rule.action;
  const select = (label, choices, value, onchange, disabled = ro) => h("label", {}, label, h("select", { "aria-label": label, disabled, onchange: (e) => onchange(e.target.value) },
    choices.map(([v, t]) => h("option", { value: v, selected: v === value }, t))));
  const setType = (type) => {
    rule.action = { type, priority: a.priority || "normal", tags: a.tags || [], weights: {} };
    if (type === "assign_team") Object.assign(rule.action, { team: Object.keys(ctx.teams)[0], strategy: "round_robin" });
    if (type === "assign_rep") rule.action.rep = Object.keys(ctx.people)[0];
    redraw();
  };
  const parts = [select("去向", Object.entries(ACTION), a.type, setType)];
  if (a.type === "assign_team") {
    parts.push(select("团队", [["", "请选择团队"], ...Object.values(ctx.teams).map((t) => [t.team_id, t.label])], a.team || "", (v) => { a.team = v || null; a.weights = {}; redraw(); }));
    parts.push(select("分配方式", Object.entries(STRATEGY), a.strategy, (v) => { a.strategy = v; if (v !== "weighted") a.weights = {}; redraw(); }));
  } else if (a.type === "assign_rep") {
    parts.push(select("销售", Object.entries(ctx.people), a.rep, (v) => { a.rep = v; changed(); }));
  }
  parts.push(select("优先级", Object.entries(PRIORITY), a.priority || "normal", (v) => { a.priority = v; changed(); }));
  const weights = a.type === "assign_team" && a.strategy === "weighted" ? h("div", { class: "weights" },
    h("p", { class: "muted" }, "权重：每位成员分到线索的比例（填 0 或留空表示不参与）。每日上限与在岗在「团队」页设置。"),
    h("div", { class: "row" }, (ctx.teams[a.team]?.reps || []).map((r) => numberInput(r.name, a.weights?.[r.user_id], (n) => {
      a.weights ||= {};
      if (!n) delete a.weights[r.user_id]; else a.weights[r.user_id] = n;
      changed();
    }, !weightsEditable, { min: 0, max: 100, step: 1, dataset: { weight: r.user_id } })))) : null;
  return [h("div", { class: "row" }, parts), weights];
}

/** The rule list and, for the open rule, its editor. */
export function routingForm(ctx, draft, changed) {
  const root = h("div", { class: "rules-form" });
  const open = new Set();
  const own = (r) => ctx.supervisor && r.action.type === "assign_team" && r.action.team === ctx.me.team;
  const draw = () => {
    const rules = draft.rules;
    let dragFrom = null;
    mount(root, h("ol", { class: "list rule-list", id: "rule-list" }, rules.map((rule, i) => {
      const ro = ctx.supervisor;
      const move = (to) => { const [r] = rules.splice(i, 1); rules.splice(to, 0, r); draw(); changed(); };
      const redraw = () => { draw(); changed(); };
      const summary = h("div", { class: "grow rule-summary" }, h("strong", {}, `${i + 1}. ${rule.name}`), h("div", {}, ruleText(ctx, rule)));
      const buttons = ro ? [own(rule) ? h("span", { class: "tag s-intent" }, "可改权重") : h("span", { class: "tag" }, "只读")]
        : [h("label", { class: "inline" }, h("input", { type: "checkbox", checked: rule.enabled !== false, "aria-label": `启用 ${rule.name}`,
          onchange: (e) => { rule.enabled = e.target.checked; redraw(); } }), "启用"),
        h("button", { type: "button", "aria-label": `上移 ${rule.name}`, disabled: i === 0, onclick: () => move(i - 1) }, "↑ 上移"),
        h("button", { type: "button", "aria-label": `下移 ${rule.name}`, disabled: i === rules.length - 1, onclick: () => move(i + 1) }, "↓ 下移"),
        h("button", { type: "button", onclick: () => {
          const copy = structuredClone(rule);
          copy.id = newId("r"); copy.name = `${rule.name}（副本）`.slice(0, 40);
          rules.splice(i + 1, 0, copy); open.add(copy.id); redraw();
        } }, "复制"),
        h("button", { type: "button", class: "danger", onclick: () => { rules.splice(i, 1); redraw(); } }, "删除")];
      const toggle = h("button", { type: "button", class: "edit-rule", "aria-expanded": String(open.has(rule.id)),
        onclick: () => { if (open.has(rule.id)) open.delete(rule.id); else open.add(rule.id); draw(); } }, open.has(rule.id) ? "收起" : (ro ? (own(rule) ? "修改权重" : "查看") : "编辑"));
      let body = null;
      if (open.has(rule.id)) {
        if (rule.when && !rule.when.all && !rule.when.any) rule.when = { all: [rule.when] };
        const group = rule.when || { all: [] };
        const keep = () => { rule.when = group.all?.length || group.any?.length ? group : (group.any ? group : null); };
        const redrawWhen = () => { keep(); redraw(); };
        body = h("div", { class: "rule-editor" },
          h("label", {}, "规则名称", h("input", { value: rule.name, maxlength: 40, disabled: ro, "aria-label": "规则名称",
            oninput: (e) => { rule.name = e.target.value; changed(); summary.firstChild.textContent = `${i + 1}. ${rule.name}`; } })),
          h("h3", {}, "条件"), groupEditor(ctx, group, redrawWhen, () => { keep(); changed(); summary.lastChild.textContent = ruleText(ctx, rule); }, ro, 0),
          h("h3", {}, "动作"), actionEditor(ctx, rule, redraw, () => { changed(); summary.lastChild.textContent = ruleText(ctx, rule); }, ro, !ro || own(rule)));
      }
      return h("li", { class: `rule${rule.enabled === false ? " disabled" : ""}`, draggable: ro ? "false" : "true", dataset: { rule: rule.id },
        ondragstart: (e) => { dragFrom = i; e.dataTransfer.effectAllowed = "move"; },
        ondragover: (e) => { if (dragFrom !== null) e.preventDefault(); },
        ondrop: (e) => { e.preventDefault(); if (dragFrom !== null && dragFrom !== i) { const [r] = rules.splice(dragFrom, 1); rules.splice(i, 0, r); dragFrom = null; redraw(); } } },
      h("div", { class: "row" }, ro ? null : h("span", { class: "drag", title: "拖动以调整顺序", "aria-hidden": "true" }, "⋮⋮"), summary, toggle), h("div", { class: "row" }, buttons), body);
    })),
    ctx.supervisor ? null : h("button", { type: "button", id: "add-rule", onclick: () => {
      const rule = { id: newId("r"), name: "新规则", enabled: true, when: { all: [leafFor(ctx, "city")] }, action: { type: "pool", priority: "normal", tags: [], weights: {} } };
      const last = rules.length && !rules.at(-1).when ? rules.length - 1 : rules.length;  // before the catch-all
      rules.splice(last, 0, rule); open.add(rule.id); draw(); changed();
    } }, "+ 添加规则"));
  };
  draw();
  return root;
}

/** The dry-run of a draft as a person reads it: how many leads move, to whom, why. */
export async function previewNode(ctx, draft, days) {
  const result = await post("/config/routing/dry-run", { draft, days });
  const moved = result.results.filter((r) => r.changed);
  const where = new Map();
  for (const r of moved) { const to = actionText(ctx, r.draft); where.set(to, (where.get(to) || 0) + 1); }
  return h("div", { id: "preview-body" },
    h("p", { class: "ok", role: "status", id: "dry-run-summary" },
      `最近 ${days} 天的 ${result.leads} 条线索在此草稿下：${moved.length} 条改变去向`),
    where.size ? h("ul", { id: "preview-targets" }, [...where].map(([to, n]) => h("li", {}, `${n} 条 → ${to}`))) : null,
    moved.length ? h("div", { class: "scroll-x" }, cardTable(["线索", "原去向", "新去向与原因"], moved.slice(0, 30).map((r) => [
      r.lead_id === "draft" ? "示例" : leadLink(r.lead_id), actionText(ctx, r.live),
      h("span", {}, actionText(ctx, r.draft), h("div", { class: "muted" }, r.draft.reason))]), { id: "dry-run-table" })) : null);
}

/** The 路由规则 tab: the shared editor with the rule form, and the live preview beside it. */
export async function routingTab(el, me, reload) {
  const [doc, profile] = await Promise.all([get("/config/routing"), get("/config/lead-profile")]);
  const ctx = routingContext(doc, profile.document, me);
  const days = h("select", { "aria-label": "预览范围", id: "preview-days" }, [1, 7, 30].map((d) => h("option", { value: d, selected: d === 7 }, `最近 ${d} 天`)));
  const preview = h("div", { id: "routing-preview", "aria-live": "polite" });
  let timer = null;
  let seq = 0;
  const refresh = (draft) => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++seq;
      const problems = checkRouting(ctx, draft);
      if (Object.keys(problems).length) { mount(preview, h("p", { class: "muted" }, "草稿尚未填写完整，补全后显示预览")); return; }
      try {
        const node = await previewNode(ctx, draft, Number(days.value));
        if (mine === seq) mount(preview, node);
      } catch (err) {
        if (mine === seq) mount(preview, h("p", { class: "muted" }, "草稿暂不能试运行：", err.fields ? Object.values(err.fields).join("；") : err.message));
      }
    }, 500);
  };
  const ed = editor(el, {
    name: "routing", doc, reload,
    form: (draft, changed) => routingForm(ctx, draft, changed),
    describe: (d) => describeRouting(ctx, d),
    check: (d) => checkRouting(ctx, d),
    fieldName: routingFieldName(doc.document),
    preview: (d) => previewNode(ctx, d, Number(days.value)),
    canRollback: me.role === "admin",
    readOnlyNote: ctx.supervisor ? "主管可修改本团队规则的权重，其余规则只读；每日上限、在岗与机器人在「团队」页设置。" :
      "规则按顺序匹配，第一条命中的生效；最后一条通常是“其他进公海”。拖动或用上移/下移调整顺序。",
  });
  ed.onChange(refresh);
  days.addEventListener("change", () => refresh(ed.draft()));
  refresh(ed.draft());
  return h("div", { class: "with-preview" }, h("div", { class: "main-col" }, ed.node),
    h("aside", { class: "card preview-col" }, h("div", { class: "row" }, h("h2", { class: "grow" }, "实时预览"), days), preview));
}

export { FormErrors };
