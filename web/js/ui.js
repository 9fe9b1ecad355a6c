// DOM helpers, Chinese labels, Asia/Shanghai times, loading / error / empty states, toasts.

export const STATUS = {
  new: "新线索", invalid: "无效线索", duplicate: "重复线索", pool: "公海", assigned: "已分配", contacted: "初步接触",
  observing: "待观察", intent: "意向明确", qualifying: "资质审核", won: "签约放款", lost: "流失",
};
// The lifecycle's transitions (chalicelib/domain/lifecycle.py); the API enforces them, this only offers them.
export const ACTIVITY = { call: "电话", sms: "短信", wechat: "微信", email: "邮件", visit: "面谈", note: "备注",
  materials_sent: "资料已发送" };
export const ROLE = { admin: "管理员", supervisor: "主管", rep: "销售" };

/** h("div", {class: "x", onclick}, child, "text", [more]) — text is always text, never HTML. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function mount(target, ...children) {
  target.replaceChildren();
  append(target, children);
}

const FULL = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
const SHORT = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", hour12: false });

/** An ISO UTC time shown in Asia/Shanghai, e.g. 2026/11/28 14:05. */
export function fmtTime(iso, short = false) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : (short ? SHORT : FULL).format(date);
}

/** Today's date in Asia/Shanghai as YYYY-MM-DD. */
export function shanghaiDate(offsetDays = 0) {
  const now = new Date(Date.now() + offsetDays * 86400000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(now);
}

export function loading(text = "加载中…") {
  return h("p", { class: "loading", role: "status" }, text);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

// The names of the fields an error may point at (the API's `fields` keys), as the forms call them.
export const FIELD = { name: "客户姓名", phone: "手机号", city: "城市", province: "省份", amount: "贷款金额",
  loan_type: "贷款类型", purpose: "贷款用途", credit_status: "征信情况", customer_type: "客户类型", source: "来源",
  campaign: "活动", remark: "备注", custom: "自定义字段", version: "版本", reason: "原因", status: "状态",
  won_amount: "放款金额", won_date: "放款日期", due_at: "到期时间", title: "任务内容", until: "推迟到", to: "分配给",
  lead_ids: "线索", from: "开始日期", team: "团队", body: "内容", file: "文件", filename: "文件名" };

/** `rules[0].when.op` keeps its path (an admin's JSON); a plain field reads by its name. */
function fieldName(key) {
  const last = String(key).split(".").at(-1);
  return FIELD[key] || (String(key).startsWith("custom.") ? last : FIELD[last] && !key.includes("[") ? FIELD[last] : key);
}

/** An error's message when it is ours (Chinese); a browser's or script's own (English) never reaches people. */
export function chineseMessage(err, fallback = "出错了，请重试") {
  const text = err?.message;
  return typeof text === "string" && /[\u4e00-\u9fff]/.test(text) ? text : fallback;
}

/** The API's structured error (code, Chinese message, fields) as an alert. */
export function errorBox(err) {
  const fields = Object.entries(err?.fields || {});
  return h("div", { class: "error", role: "alert" }, chineseMessage(err),
    fields.length ? h("ul", {}, fields.map(([k, v]) => h("li", {}, `${fieldName(k)}：${v}`))) : null);
}

export function statusTag(status) {
  return h("span", { class: `tag s-${status}` }, STATUS[status] || status);
}

export function toast(text) {
  const box = document.getElementById("toast");
  const item = h("div", {}, text);
  box.append(item);
  setTimeout(() => item.remove(), 3500);
}

/** Runs an action on a button: disabled while it runs, errors shown in `slot` (or as a toast). */
export async function busy(button, action, slot) {
  if (button) button.disabled = true;
  if (slot) slot.replaceChildren();
  try {
    return await action();
  } catch (err) {
    if (slot) slot.replaceChildren(errorBox(err)); else toast(chineseMessage(err, "操作失败"));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** Renders `render(data)` after `load()` resolves, with a loading state and an error state with retry. */
export async function section(target, load, render) {
  mount(target, loading());
  try {
    const data = await load();
    mount(target, render(data));
  } catch (err) {
    mount(target, errorBox(err), h("button", { type: "button", onclick: () => section(target, load, render) }, "重试"));
  }
}

/** Downloads a file from a (presigned) link the API returned: the link's Content-Disposition names it. */
export function download(url, filename) {
  const link = h("a", { href: url, download: filename || "", hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

export function leadLink(id, text) {
  return h("a", { href: `#/lead/${encodeURIComponent(id)}` }, text || id);
}

/** A table that is one card per row on a phone: headers become each cell's label. */
export function cardTable(headers, rows, attrs = {}) {
  return h("table", { class: "cards", ...attrs }, h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map((row) => {
      const cells = Array.isArray(row) ? row : row.cells;
      return h("tr", Array.isArray(row) ? {} : row.attrs || {},
        cells.map((cell, i) => h("td", { "data-label": headers[i] || "" }, cell)));
    })));
}
