// 规则: routing rules, SOP policies (a timeline), option lists and custom fields (the form engine),
// pool policy and cleaning rules, each as a form with an advanced JSON tab, a publish that shows
// the change in words and asks for a note, and a version list to roll back from. Admins change
// everything; a supervisor their own team's routing weights (the API enforces the same).
import { get, post } from "../api.js";
import { ACTIVITY, busy, errorBox, h, mount, STATUS, toast } from "../ui.js";
import { duration, editor, problemBox } from "./config-kit.js";
import { routingTab } from "./rules-routing.js";

const TABS = [
  ["routing", "路由规则", routingTabOf, ["admin", "supervisor"]], ["sop", "SOP 策略", sopTab, ["admin"]],
  ["profile", "选项与字段", profileTab, ["admin"]], ["pool", "公海策略", poolTab, ["admin"]],
  ["cleaning", "清洗规则", cleaningTab, ["admin"]], ["scoring", "线索评分", scoringTab, ["admin"]],
];

export async function render(view, { me, query }) {
  const body = h("div", { id: "rules-body" });
  const tabs = TABS.filter(([, , , roles]) => roles.includes(me.role));
  const current = tabs.find(([k]) => k === query.tab) ? query.tab : "routing";
  const bar = h("div", { class: "tabs", role: "tablist" }, tabs.map(([key, label]) =>
    h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(key === current),
      onclick: () => { location.hash = `#/rules?tab=${key}`; } }, label)));
  mount(view, h("h1", {}, "规则"), bar, body);
  const draw = async () => {
    mount(body, h("p", { class: "loading", role: "status" }, "加载中…"));
    try {
      mount(body, await tabs.find(([k]) => k === current)[2](body, me, draw));
    } catch (err) {
      mount(body, errorBox(err), h("button", { type: "button", onclick: draw }, "重试"));
    }
  };
  await draw();
}

function routingTabOf(el, me, reload) {
  return routingTab(el, me, reload);
}

// --- small form controls -------------------------------------------------------------------------

/** A number with its label, bounds and help; `set` receives a number, or undefined when empty. */
function numberField(label, value, set, { min, max, step = 1, help, unit, id } = {}) {
  return h("label", { class: "field" }, unit ? `${label}（${unit}）` : label,
    h("input", { type: "number", value: value ?? "", min, max, step, id, "aria-label": label,
      oninput: (e) => set(e.target.value === "" ? undefined : Number(e.target.value)) }),
    help ? h("span", { class: "help" }, help) : null);
}

function bounded(errors, label, value, min, max, { optional = false, integer = true } = {}) {
  if (value === undefined || value === null) {
    if (!optional) errors[label] = "请填写";
    return;
  }
  if (Number.isNaN(value) || (integer && !Number.isInteger(value))) errors[label] = "请填写整数";
  else if (value < min || value > max) errors[label] = `须在 ${min}–${max} 之间`;
}

/** One line per item (phones, names, networks): never JSON. */
function linesField(label, values, set, help) {
  return h("label", { class: "field wide" }, label,
    h("textarea", { rows: 4, class: "lines", "aria-label": label, oninput: (e) => set(e.target.value.split(/\n/).map((s) => s.trim()).filter(Boolean)) },
      (values || []).join("\n")),
    help ? h("span", { class: "help" }, help) : null);
}

/** Minutes shown as a number and a unit (分钟 / 小时 / 天). */
function delayField(label, minutes, set, { optional = false, id } = {}) {
  const unit = minutes && minutes % 1440 === 0 ? 1440 : minutes && minutes % 60 === 0 ? 60 : minutes ? 1 : 60;
  const amount = h("input", { type: "number", min: 0, step: 1, value: minutes ? minutes / unit : "", "aria-label": `${label}数值`, id, style: "width:6em" });
  const units = h("select", { "aria-label": `${label}单位` }, [[1, "分钟"], [60, "小时"], [1440, "天"]].map(([v, t]) =>
    h("option", { value: v, selected: v === unit }, t)));
  const update = () => set(amount.value === "" ? (optional ? null : undefined) : Math.round(Number(amount.value) * Number(units.value)));
  amount.addEventListener("input", update);
  units.addEventListener("change", update);
  return h("span", { class: "row delay", "aria-label": label }, amount, units);
}

const asMap = (pairs) => new Map(pairs.filter(([, v]) => v !== undefined));

// --- SOP policies: a timeline ---------------------------------------------------------------------

const MATERIALS = "activity:materials_sent";
const STAGES = [["assigned", "分配后"], ["first_contact", "首次联系后"], [MATERIALS, "资料已发送后"]];

function triggerName(on) {
  const [kind, value] = on.split(":");
  if (kind === "status") return `进入「${STATUS[value] || value}」后`;
  if (kind === "activity") return `记录「${ACTIVITY[value] || value}」后`;
  return Object.fromEntries(STAGES)[on] || "（未知触发）";
}

const TRIGGERS = [...STAGES.map(([v]) => v), ...Object.keys(ACTIVITY).filter((a) => a !== "materials_sent").map((a) => `activity:${a}`),
  ...["contacted", "observing", "intent", "qualifying", "won", "lost"].map((st) => `status:${st}`)];

function describeSop(p) {
  const within = (t) => `${t.business_hours ? "工作时间 " : ""}${duration(t.due_minutes)}`;
  const lines = (p.tasks || []).map((t) => [`任务「${t.title}」`, `${triggerName(t.on)} ${within(t)}内完成`]);
  const reminders = (p.reminders || []).map((r) => [`提醒「${r.text}」`, `${triggerName(r.on)} ${r.business_hours ? "工作时间 " : ""}${duration(r.delay_minutes)}后提醒负责人`]);
  return asMap([...lines, ...reminders,
    ["未首次联系收回公海", p.reclaim_uncontacted_minutes ? `分配后 ${duration(p.reclaim_uncontacted_minutes)}未联系则收回公海并通知主管` : "关闭"],
    ["逾期通知主管", `任务逾期 ${duration(p.escalate_overdue_after_minutes)}后通知主管`],
    ["长期未跟进", p.no_activity_minutes ? `${duration(p.no_activity_minutes)}无跟进则新建任务「${p.no_activity_task}」，${duration(p.no_activity_due_minutes)}内完成` : "关闭"],
    ["换人时的任务", p.on_handoff === "recreate" ? "取消原任务，按当前状态为新负责人新建" : "原任务转给新负责人"]]);
}

function checkSop(p) {
  const errors = {};
  const ids = new Set();
  (p.tasks || []).forEach((t, i) => {
    const where = `第 ${i + 1} 个任务「${t.title || "未命名"}」`;
    if (!t.title?.trim()) errors[`${where}的标题`] = "请填写任务标题";
    else if (t.title.length > 50) errors[`${where}的标题`] = "不能超过 50 个字";
    if (!t.due_minutes || t.due_minutes < 1) errors[`${where}的期限`] = "请填写大于 0 的期限";
    else if (t.due_minutes > 90 * 1440) errors[`${where}的期限`] = "不能超过 90 天";
    if (ids.has(t.id)) errors[`${where}`] = "与其他任务重复";
    ids.add(t.id);
  });
  const reminderIds = new Set();
  (p.reminders || []).forEach((r, i) => {
    const where = `第 ${i + 1} 个提醒「${r.text || "未填写"}」`;
    if (!r.text?.trim()) errors[`${where}的内容`] = "请填写提醒内容";
    else if (r.text.length > 100) errors[`${where}的内容`] = "不能超过 100 个字";
    if (!r.delay_minutes || r.delay_minutes < 1) errors[`${where}的时间`] = "请填写大于 0 的时间";
    else if (r.delay_minutes > 90 * 1440) errors[`${where}的时间`] = "不能超过 90 天";
    if (reminderIds.has(r.id)) errors[where] = "与其他提醒重复";
    reminderIds.add(r.id);
  });
  if (p.reclaim_uncontacted_minutes !== null && (p.reclaim_uncontacted_minutes === undefined || p.reclaim_uncontacted_minutes < 10 || p.reclaim_uncontacted_minutes > 30 * 1440)) errors["未首次联系收回公海"] = "须在 10 分钟到 30 天之间，或留空表示关闭";
  if (p.escalate_overdue_after_minutes === undefined || p.escalate_overdue_after_minutes > 30 * 1440) errors["逾期通知主管"] = "须在 0 分钟到 30 天之间";
  if (p.no_activity_minutes !== null && (p.no_activity_minutes === undefined || p.no_activity_minutes < 60 || p.no_activity_minutes > 90 * 1440)) errors["长期未跟进"] = "须在 1 小时到 90 天之间，或留空表示关闭";
  if (!p.no_activity_task?.trim()) errors["长期未跟进的任务标题"] = "请填写";
  return errors;
}

const SOP_FIELDS = { reclaim_uncontacted_minutes: "未首次联系收回公海", escalate_overdue_after_minutes: "逾期通知主管",
  no_activity_minutes: "长期未跟进", no_activity_task: "长期未跟进的任务标题", no_activity_due_minutes: "长期未跟进的任务期限",
  tasks: "任务", reminders: "提醒" };

function sopFieldName(doc) {
  return (key) => {
    const m = /^tasks\.(\d+)/.exec(key);
    if (m) return `第 ${Number(m[1]) + 1} 个任务「${doc.tasks?.[Number(m[1])]?.title || ""}」`;
    const r = /^reminders\.(\d+)/.exec(key);
    if (r) return `第 ${Number(r[1]) + 1} 个提醒「${doc.reminders?.[Number(r[1])]?.text || ""}」`;
    return SOP_FIELDS[key] || (key === "body" ? "内容" : key);
  };
}

/** What a lead assigned now would get, in order (the preview of the timeline). */
function sopPreview(p) {
  const items = [];
  for (const t of (p.tasks || []).filter((x) => x.on === "assigned")) items.push([t.due_minutes, `分配后 ${t.business_hours ? "工作时间 " : ""}${duration(t.due_minutes)}：任务「${t.title}」到期`]);
  for (const r of (p.reminders || []).filter((x) => x.on === "assigned")) items.push([r.delay_minutes, `分配后 ${r.business_hours ? "工作时间 " : ""}${duration(r.delay_minutes)}：提醒负责人「${r.text}」`]);
  if (p.reclaim_uncontacted_minutes) items.push([p.reclaim_uncontacted_minutes, `分配后 ${duration(p.reclaim_uncontacted_minutes)}仍未联系：收回公海，通知主管`]);
  items.sort((a, b) => a[0] - b[0]);
  const later = (p.tasks || []).filter((x) => x.on !== "assigned").map((t) => `${triggerName(t.on)}：任务「${t.title}」，${t.business_hours ? "工作时间 " : ""}${duration(t.due_minutes)}内完成`);
  later.push(...(p.reminders || []).filter((x) => x.on !== "assigned").map((r) => `${triggerName(r.on)} ${r.business_hours ? "工作时间 " : ""}${duration(r.delay_minutes)}：提醒负责人「${r.text}」`));
  if (p.no_activity_minutes) later.push(`${duration(p.no_activity_minutes)}没有跟进：任务「${p.no_activity_task}」`);
  return h("section", { class: "card", id: "sop-preview" }, h("h2", {}, "预览：一条线索将收到的任务"),
    h("ol", {}, items.map(([, t]) => h("li", {}, t))), h("p", { class: "muted" }, "之后："), h("ul", {}, later.map((t) => h("li", {}, t))),
    h("p", { class: "muted" }, "任务到期提醒负责人；逾期后按上面的设置通知主管。提醒只发到负责人的消息中心，每条线索每个提醒只发一次，不生成任务。"));
}

function sopForm(p, notify) {
  const root = h("div");
  const preview = h("div");
  const changed = () => { notify(); mount(preview, sopPreview(p)); };  // the preview follows every edit
  const draw = () => {
    mount(preview, sopPreview(p));
    const rule = (t) => {
      const i = p.tasks.indexOf(t);
      return h("li", { class: "card task-rule", dataset: { task: t.id } },
        h("div", { class: "row" }, h("span", { class: "tag s-contacted" }, "新建任务"),
          h("input", { value: t.title, maxlength: 50, "aria-label": "任务标题", class: "grow", oninput: (e) => { t.title = e.target.value; changed(); } })),
        h("div", { class: "row" }, h("label", {}, "触发", h("select", { "aria-label": "触发条件", onchange: (e) => { t.on = e.target.value; draw(); changed(); } },
          [...new Set([...TRIGGERS, t.on])].map((v) => h("option", { value: v, selected: v === t.on }, triggerName(v))))),
        h("label", {}, "期限（触发后多久内完成）", delayField("期限", t.due_minutes, (m) => { t.due_minutes = m; changed(); })),
        h("label", { class: "inline", title: "只计工作时间（路由规则的工作时间与节假日），例如周五 17:30 分配、期限 2 小时，则周一 10:30 到期" },
          h("input", { type: "checkbox", checked: !!t.business_hours, "aria-label": "按工作时间计算", onchange: (e) => { t.business_hours = e.target.checked; changed(); } }),
          "按工作时间计算"),
        h("button", { type: "button", class: "danger", onclick: () => { p.tasks.splice(i, 1); draw(); changed(); } }, "删除")));
    };
    p.reminders ||= [];
    const reminder = (r) => {
      const i = p.reminders.indexOf(r);
      return h("li", { class: "card reminder-rule", dataset: { reminder: r.id } },
        h("div", { class: "row" }, h("span", { class: "tag s-intent" }, "提醒"),
          h("input", { value: r.text, maxlength: 100, "aria-label": "提醒内容", class: "grow", oninput: (e) => { r.text = e.target.value; changed(); } })),
        h("div", { class: "row" }, h("label", {}, "触发", h("select", { "aria-label": "提醒的触发条件", onchange: (e) => { r.on = e.target.value; draw(); changed(); } },
          [...new Set([...TRIGGERS, r.on])].map((v) => h("option", { value: v, selected: v === r.on }, triggerName(v))))),
        h("label", {}, "触发后多久提醒", delayField("提醒时间", r.delay_minutes, (m) => { r.delay_minutes = m; changed(); })),
        h("label", { class: "inline" },
          h("input", { type: "checkbox", checked: !!r.business_hours, "aria-label": "提醒按工作时间计算", onchange: (e) => { r.business_hours = e.target.checked; changed(); } }),
          "按工作时间计算"),
        h("button", { type: "button", class: "danger", onclick: () => { p.reminders.splice(i, 1); draw(); changed(); } }, "删除")));
    };
    const groups = [...new Set([...STAGES.map(([v]) => v), ...p.tasks.map((t) => t.on), ...p.reminders.map((r) => r.on)])];
    mount(root, h("ol", { class: "timeline sop-timeline" }, groups.map((on) => h("li", { dataset: { trigger: on } },
      h("strong", {}, triggerName(on)),
      on === "assigned" ? h("div", { class: "card" }, h("div", { class: "row" }, h("span", { class: "tag s-lost" }, "收回公海 · 通知主管"), "若分配后",
        delayField("未联系收回", p.reclaim_uncontacted_minutes, (m) => { p.reclaim_uncontacted_minutes = m; changed(); }, { optional: true }), "仍未首次联系"),
      h("span", { class: "help" }, "留空表示不自动收回；须在 10 分钟到 30 天之间。")) : null,
      h("ul", { class: "list" }, p.tasks.filter((t) => t.on === on).map(rule), p.reminders.filter((r) => r.on === on).map(reminder)))),
    h("li", {}, h("strong", {}, "长期无跟进"), h("div", { class: "card" }, h("div", { class: "row" }, "连续",
      delayField("无跟进时长", p.no_activity_minutes, (m) => { p.no_activity_minutes = m; changed(); }, { optional: true }), "没有跟进记录：新建任务",
      h("input", { value: p.no_activity_task, "aria-label": "长期未跟进任务标题", oninput: (e) => { p.no_activity_task = e.target.value; changed(); } }),
      "，期限", delayField("长期未跟进任务期限", p.no_activity_due_minutes, (m) => { p.no_activity_due_minutes = m; changed(); })))),
    h("li", {}, h("strong", {}, "任务逾期"), h("div", { class: "card" }, h("div", { class: "row" }, h("span", { class: "tag s-lost" }, "通知主管"), "逾期",
      delayField("逾期通知", p.escalate_overdue_after_minutes, (m) => { p.escalate_overdue_after_minutes = m; changed(); }), "后通知主管")))),
    h("div", { class: "row" }, h("label", {}, "添加任务或提醒：触发", h("select", { id: "new-task-trigger", "aria-label": "新任务的触发条件" },
      TRIGGERS.map((v) => h("option", { value: v }, triggerName(v))))),
    h("button", { type: "button", id: "add-task", onclick: () => {
      const on = root.querySelector("#new-task-trigger").value;
      p.tasks.push({ id: `t_${Date.now().toString(36)}`, on, title: "新任务", due_minutes: 1440 });
      draw(); changed();
    } }, "+ 添加任务"),
    h("button", { type: "button", id: "add-reminder", onclick: () => {
      const on = root.querySelector("#new-task-trigger").value;
      p.reminders.push({ id: `r_${Date.now().toString(36)}`, on, text: "请跟进客户", delay_minutes: 60 });
      draw(); changed();
    } }, "+ 添加提醒")),
    h("label", {}, "线索换人时", h("select", { "aria-label": "线索换人时", onchange: (e) => { p.on_handoff = e.target.value; changed(); } },
      h("option", { value: "move", selected: p.on_handoff !== "recreate" }, "未完成任务转给新负责人"),
      h("option", { value: "recreate", selected: p.on_handoff === "recreate" }, "取消原任务，按当前状态为新负责人新建"))),
    preview);
  };
  draw();
  return root;
}

async function sopTab(el, me, reload) {
  const doc = await get("/config/sop");
  return editor(el, { name: "sop", doc, reload, form: sopForm, describe: describeSop, check: checkSop,
    fieldName: sopFieldName(doc.document), canRollback: true,
    readOnlyNote: "新策略对之后发生的事件生效（已有任务不变）。" }).node;
}

// --- pool policy ----------------------------------------------------------------------------------

const POOL = [["max_claims_per_day", "每人每天最多领取", 0, 1000, "条", "销售每天从公海领取线索的上限；0 表示不允许领取。"],
  ["cooldown_hours", "再次领取冷却期", 0, 720, "小时", "销售释放或被收回的线索，需等待多久才能再次领取同一条。"],
  ["page_size", "公海每页显示", 1, 100, "条", "公海列表每页的线索条数。"]];

async function poolTab(el, me, reload) {
  const doc = await get("/config/pool");
  return editor(el, { name: "pool", doc, reload, canRollback: true,
    form: (p, changed) => h("div", { class: "form-grid" }, POOL.map(([key, label, min, max, unit, help]) =>
      numberField(label, p[key], (v) => { p[key] = v; changed(); }, { min, max, unit, help: `${help}（${min}–${max}）`, id: `pool-${key}` }))),
    describe: (p) => asMap(POOL.map(([key, label, , , unit]) => [label, `${p[key]} ${unit}`])),
    check: (p) => { const e = {}; for (const [key, label, min, max] of POOL) bounded(e, label, p[key], min, max); return e; },
    fieldName: (k) => Object.fromEntries(POOL.map(([key, label]) => [key, label]))[k] || (k === "body" ? "内容" : k),
  }).node;
}

// --- cleaning rules -------------------------------------------------------------------------------

const CLEAN_NUM = [["min_repeated_digits", "重复数字判为测试号", 4, 11, "位", "号码中同一数字连续出现这么多位即视为测试号（如 13888888888）。"],
  ["min_sequential_digits", "连续数字判为测试号", 4, 11, "位", "号码中出现这么多位顺序数字即视为测试号（如 12345678）。"],
  ["name_max_length", "姓名最长", 1, 50, "字", "超过的姓名视为无效。"]];
const BURST = [["ip_max", "同一网络最多提交", 1, 1000, "条", "窗口期内同一 IP 超过此数即视为刷单。"],
  ["ip_window_s", "同一网络统计窗口", 10, 86400, "秒", ""],
  ["phone_max", "同一号码最多提交", 1, 1000, "条", "窗口期内同一号码超过此数即拒绝。"],
  ["phone_window_s", "同一号码统计窗口", 10, 86400, "秒", ""]];
const CLEAN_LISTS = [["test_phones", "测试号码", "每行一个号码，如 13800138000；这些号码的线索判为无效。"],
  ["phone_blocklist", "黑名单号码", "每行一个号码；来自这些号码的线索判为无效。"],
  ["test_names", "测试姓名", "每行一个，如 测试、test。"]];

function describeCleaning(c) {
  return asMap([...CLEAN_NUM.map(([k, l, , , u]) => [l, `${c[k]} ${u}`]), ...BURST.map(([k, l, , , u]) => [l, `${c.burst?.[k]} ${u}`]),
    ...CLEAN_LISTS.map(([k, l]) => [l, (c[k] || []).join("、") || "无"]),
    ["白名单网络", (c.burst?.ip_allowlist || []).join("、") || "无"],
    ["城市与省份", `${Object.keys(c.city_provinces || {}).length} 个城市，${Object.keys(c.province_regions || {}).length} 个省份`]]);
}

function checkCleaning(c) {
  const e = {};
  for (const [k, l, min, max] of CLEAN_NUM) bounded(e, l, c[k], min, max);
  for (const [k, l, min, max] of BURST) bounded(e, l, c.burst?.[k], min, max);
  const bad = (c.test_phones || []).concat(c.phone_blocklist || []).filter((p) => !/^\+?[\d -]{5,20}$/.test(p));
  if (bad.length) e["号码"] = `不是号码：${bad.join("、")}`;
  const nets = (c.burst?.ip_allowlist || []).filter((n) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(n));
  if (nets.length) e["白名单网络"] = `不是 IP 地址或网段：${nets.join("、")}`;
  return e;
}

const CLEAN_NAMES = Object.fromEntries([...CLEAN_NUM, ...BURST, ...CLEAN_LISTS].map(([k, l]) => [k, l]));

async function cleaningTab(el, me, reload) {
  const doc = await get("/config/cleaning");
  return editor(el, { name: "cleaning", doc, reload, canRollback: true, describe: describeCleaning, check: checkCleaning,
    fieldName: (k) => CLEAN_NAMES[k.split(".").at(-1)] || (k.includes("ip_allowlist") ? "白名单网络" : k === "body" ? "内容" : k),
    form: (c, changed) => {
      c.burst ||= {};
      return h("div", {},
        h("h2", {}, "测试与黑名单"), h("div", { class: "form-grid" }, CLEAN_LISTS.map(([k, l, help]) => linesField(l, c[k], (v) => { c[k] = v; changed(); }, help)),
          CLEAN_NUM.map(([k, l, min, max, unit, help]) => numberField(l, c[k], (v) => { c[k] = v; changed(); }, { min, max, unit, help: `${help}（${min}–${max}）` }))),
        h("h2", {}, "防刷"), h("div", { class: "form-grid" }, BURST.map(([k, l, min, max, unit, help]) =>
          numberField(l, c.burst[k], (v) => { c.burst[k] = v; changed(); }, { min, max, unit, help: `${help}（${min}–${max}）` })),
        linesField("白名单网络", c.burst.ip_allowlist, (v) => { c.burst.ip_allowlist = v; changed(); }, "每行一个 IP 或网段（如 10.0.0.0/8），不计入同一网络的提交次数。")),
        h("p", { class: "muted" }, `城市与省份对照：${Object.keys(c.city_provinces || {}).length} 个城市、${Object.keys(c.province_regions || {}).length} 个省份（在“高级（JSON）”中维护）。`));
    } }).node;
}

// --- lead profile: option lists and custom fields ------------------------------------------------

const OPTION_LISTS = { loan_type: "贷款类型", purpose: "资金用途", credit_status: "征信情况", source: "线索来源", customer_type: "客户画像" };
const TYPES = { text: "文本", number: "数字", date: "日期", option: "单选", multi: "多选" };
const CHOICE = (f) => f.type === "option" || f.type === "multi";
const ROLES = { admin: "管理员", supervisor: "主管", rep: "销售" };
const code = (prefix) => `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;

function sourceLabel(p, value) {
  return (p.options?.source || []).find((o) => o.value === value)?.label || value;
}

function describeProfile(p) {
  const lines = Object.entries(OPTION_LISTS).map(([k, l]) => [`选项：${l}`, (p.options?.[k] || []).map((o) => o.active === false ? `${o.label}（已停用）` : o.label).join("、")]);
  for (const [i, f] of (p.custom_fields || []).entries()) {
    const required = f.required ? "全部必填" : f.required_sources?.length ? `${f.required_sources.map((s) => sourceLabel(p, s)).join("、")}必填` : "选填";
    lines.push([`自定义字段「${f.label}」`, `第 ${i + 1} 个，${TYPES[f.type]}，${required}${f.type === "multi" ? `，最多选 ${f.max_choices ?? 10} 项` : ""}${CHOICE(f) ? "，选项 " + (f.options || []).map((o) => o.active === false ? `${o.label}（已停用）` : o.label).join("、") : ""}${f.visible_to?.length ? "，仅" + f.visible_to.map((r) => ROLES[r]).join("、") + "可见" : ""}`]);
  }
  lines.push(["贷款金额上限", `${p.amount_max} 万元`]);
  return asMap(lines);
}

function checkProfile(p) {
  const e = {};
  for (const [k, l] of Object.entries(OPTION_LISTS)) {
    const items = p.options?.[k] || [];
    items.forEach((o, i) => { if (!o.label?.trim()) e[`${l}的第 ${i + 1} 个选项`] = "请填写显示名称"; else if (o.label.length > 30) e[`${l}的第 ${i + 1} 个选项`] = "不能超过 30 个字"; });
    if (!items.some((o) => o.active !== false)) e[l] = "至少保留一个在用的选项";
    const labels = items.map((o) => o.label);
    if (new Set(labels).size !== labels.length) e[l] = "选项名称重复";
  }
  const keys = new Set();
  (p.custom_fields || []).forEach((f, i) => {
    const where = `第 ${i + 1} 个自定义字段「${f.label || "未命名"}」`;
    if (!f.label?.trim()) e[`${where}的名称`] = "请填写字段名称";
    if (!/^[a-z][a-z0-9_]{1,39}$/.test(f.key || "")) e[`${where}的接口字段名`] = "须为小写英文字母开头，只含小写字母、数字和下划线（2–40 位）";
    if (keys.has(f.key)) e[`${where}的接口字段名`] = "与其他字段重复";
    keys.add(f.key);
    if (CHOICE(f) && !(f.options || []).length) e[`${where}的选项`] = `${TYPES[f.type]}字段至少需要一个选项`;
    if (CHOICE(f) && (f.options || []).length > 50) e[`${where}的选项`] = "最多 50 个选项";
    if (f.type === "multi") bounded(e, `${where}的最多可选`, f.max_choices ?? 10, 1, 50);
    (f.options || []).forEach((o, j) => { if (!o.label?.trim()) e[`${where}的第 ${j + 1} 个选项`] = "请填写选项名称"; });
  });
  bounded(e, "贷款金额上限", p.amount_max, 1, 10000000, { integer: false });
  return e;
}

function profileFieldName(p) {
  return (key) => {
    const m = /^custom_fields\.(\d+)/.exec(key);
    if (m) return `第 ${Number(m[1]) + 1} 个自定义字段「${p.custom_fields?.[Number(m[1])]?.label || ""}」`;
    const o = /^options\.(\w+)(?:\.(\d+))?/.exec(key);
    if (o) return `${OPTION_LISTS[o[1]] || "选项"}${o[2] !== undefined ? `的第 ${Number(o[2]) + 1} 个选项` : ""}`;
    return { amount_max: "贷款金额上限", body: "内容", channel_sources: "渠道来源", custom_fields: "自定义字段" }[key] || key;
  };
}

/** An option list: rename (the label), add, retire (kept readable on old leads, not offered to new ones). */
function optionRows(items, changed, redraw, prefix) {
  return h("ul", { class: "list options" }, items.map((o, i) => h("li", { class: "row", dataset: { option: o.value } },
    h("input", { value: o.label, maxlength: 30, "aria-label": "选项名称", class: "grow", oninput: (e) => { o.label = e.target.value; changed(); } }),
    h("label", { class: "inline" }, h("input", { type: "checkbox", checked: o.active !== false, "aria-label": `${o.label} 在用`,
      onchange: (e) => { o.active = e.target.checked; changed(); redraw(); } }), o.active === false ? "已停用" : "在用"),
    o.fresh ? h("button", { type: "button", class: "link", onclick: () => { items.splice(i, 1); changed(); redraw(); } }, "删除") : null)),
  h("li", {}, h("button", { type: "button", class: "add-option", onclick: () => { items.push({ value: code(prefix), label: "", active: true, fresh: true }); changed(); redraw(); } }, "+ 添加选项")));
}

function profileForm(p, changed) {
  const root = h("div");
  p.custom_fields ||= [];
  const draw = () => {
    const sources = p.options.source || [];
    const field = (f, i) => {
      const requiredMode = f.required ? "all" : f.required_sources?.length ? "some" : "none";
      return h("li", { class: "card custom-field", dataset: { field: f.key } },
        h("div", { class: "row" },
          h("label", {}, "字段名称", h("input", { value: f.label, maxlength: 30, "aria-label": "字段名称", oninput: (e) => { f.label = e.target.value; changed(); } })),
          h("label", {}, "类型", h("select", { "aria-label": "字段类型", disabled: !f.fresh, onchange: (e) => { f.type = e.target.value; if (CHOICE(f)) f.options ||= []; changed(); draw(); } },
            Object.entries(TYPES).map(([v, t]) => h("option", { value: v, selected: f.type === v }, t)))),
          h("label", {}, "接口字段名", h("input", { value: f.key, "aria-label": "接口字段名", disabled: !f.fresh, size: 14, oninput: (e) => { f.key = e.target.value.trim(); changed(); } })),
          h("span", { class: "grow" }),
          h("button", { type: "button", "aria-label": `上移 ${f.label}`, disabled: i === 0, onclick: () => { p.custom_fields.splice(i - 1, 0, ...p.custom_fields.splice(i, 1)); changed(); draw(); } }, "↑"),
          h("button", { type: "button", "aria-label": `下移 ${f.label}`, disabled: i === p.custom_fields.length - 1, onclick: () => { p.custom_fields.splice(i + 1, 0, ...p.custom_fields.splice(i, 1)); changed(); draw(); } }, "↓"),
          f.fresh ? h("button", { type: "button", class: "danger", onclick: () => { p.custom_fields.splice(i, 1); changed(); draw(); } }, "删除") : null),
        h("div", { class: "row" }, h("label", {}, "必填", h("select", { "aria-label": "必填", onchange: (e) => {
          f.required = e.target.value === "all";
          f.required_sources = e.target.value === "some" ? (f.required_sources?.length ? f.required_sources : [sources[0]?.value]) : [];
          changed(); draw();
        } }, h("option", { value: "none", selected: requiredMode === "none" }, "选填"), h("option", { value: "all", selected: requiredMode === "all" }, "所有来源必填"),
        h("option", { value: "some", selected: requiredMode === "some" }, "仅以下来源必填"))),
        requiredMode === "some" ? h("fieldset", { class: "chips", "aria-label": "必填的来源" }, sources.map((s) => h("label", { class: "inline" },
          h("input", { type: "checkbox", checked: f.required_sources.includes(s.value), "aria-label": `${s.label}必填`, onchange: (e) => {
            f.required_sources = e.target.checked ? [...f.required_sources, s.value] : f.required_sources.filter((x) => x !== s.value);
            changed();
          } }), s.label))) : null),
        h("div", { class: "row" }, "可见：", h("fieldset", { class: "chips", "aria-label": "可见角色" }, Object.entries(ROLES).map(([r, l]) => h("label", { class: "inline" },
          h("input", { type: "checkbox", checked: !f.visible_to?.length || f.visible_to.includes(r), "aria-label": `${l}可见`, onchange: (e) => {
            const now = new Set(f.visible_to?.length ? f.visible_to : Object.keys(ROLES));
            if (e.target.checked) now.add(r); else now.delete(r);
            f.visible_to = now.size === 3 ? [] : [...now];
            changed();
          } }), l)))),
        f.type === "multi" ? h("label", {}, "最多可选", h("input", { type: "number", min: 1, max: 50, value: f.max_choices ?? 10, "aria-label": "最多可选几项",
          oninput: (e) => { f.max_choices = e.target.value === "" ? undefined : Number(e.target.value); changed(); } }), "项") : null,
        CHOICE(f) ? h("div", {}, h("span", { class: "muted" }, f.type === "multi" ? "选项（可多选）：" : "选项："), optionRows(f.options, changed, draw, "v")) : null);
    };
    mount(root,
      h("h2", {}, "选项列表"), h("p", { class: "help" }, "改名即时生效；停用的选项在已有线索上仍显示原名称，但新线索不能再选。"),
      Object.entries(OPTION_LISTS).map(([k, l]) => h("details", { class: "card", dataset: { list: k } }, h("summary", {}, `${l}（${p.options[k].filter((o) => o.active !== false).length} 项在用）`),
        optionRows(p.options[k], changed, draw, "o"))),
      h("h2", {}, "自定义字段"), h("p", { class: "help" }, "字段按此顺序出现在线索详情、导入模板和导出中；采集接口按字段名称提示必填和格式错误。"),
      h("ol", { class: "list", id: "custom-fields" }, p.custom_fields.map(field)),
      h("button", { type: "button", id: "add-field", onclick: () => { p.custom_fields.push({ key: code("f_"), label: "", type: "text", required: false, required_sources: [], visible_to: [], fresh: true }); changed(); draw(); } }, "+ 添加字段"),
      h("div", { class: "form-grid" }, numberField("贷款金额上限", p.amount_max, (v) => { p.amount_max = v; changed(); }, { min: 1, unit: "万元", help: "超过此金额的线索视为填写错误。" })));
  };
  draw();
  return root;
}

/** `fresh` marks what this draft added (deletable, its code editable); the document never carries it. */
function withoutFresh(p) {
  return JSON.parse(JSON.stringify(p, (k, v) => (k === "fresh" ? undefined : v)));
}

async function profileTab(el, me, reload) {
  const doc = await get("/config/lead-profile");
  const ed = editor(el, { name: "lead-profile", doc, reload, canRollback: true, form: profileForm,
    describe: describeProfile, check: checkProfile, fieldName: profileFieldName(doc.document),
    clean: withoutFresh, readOnlyNote: "选项和自定义字段发布后即生效，无需发版。" });
  return ed.node;
}

// --- scoring: status and training, the policy as JSON ---------------------------------------------

async function scoringTab(el, me, reload) {
  const status = await get("/scoring").catch(() => null);
  const out = h("div");
  const model = status?.model;
  const train = h("button", { type: "button", id: "scoring-train", onclick: () => busy(train, async () => {
    const result = await post("/scoring/train");
    toast(result.trained ? `已训练第 ${result.version} 版模型（AUC ${result.auc}）` : result.message);
    reload();
  }, out) }, "立即训练");
  const doc = await get("/config/scoring");
  const policy = editor(el, { name: "scoring", doc, reload, canRollback: true,
    form: (p) => h("p", { class: "muted" }, "评分策略（先验分值、排除字段、分档）请在“高级（JSON）”中编辑。"),
    describe: (p) => asMap([["评分策略", `第 ${p.version ?? 1} 版内容（${JSON.stringify(p) === JSON.stringify(doc.document) ? "未修改" : "已修改，详见高级（JSON）"}）`]]),
    fieldName: (k) => k });
  return [h("section", { class: "card", id: "scoring-status" },
    h("p", {}, `当前评分依据：${status?.basis_label || "—"}（至少 ${status?.min_closed_leads ?? "—"} 条已结案线索后使用历史模型）`),
    model ? h("p", { class: "muted" }, `模型第 ${status.model_version} 版：样本 ${model.samples.total} 条（签约 ${model.samples.won ?? "—"}），`
      + `留出集 AUC ${model.auc}、Brier ${model.brier}；所用字段：${model.features.join("、")}`) : null,
    h("div", { class: "row" }, train), out), h("div", { id: "scoring-policy" }, policy.node)];
}

export { problemBox };
