// 线索详情: profile (masked phone), log an activity in two taps, status change with the fields it
// requires, tasks, the timeline of activities and history; claim / release / 分配 · 转交. What the
// caller may do comes from the server (`lead.can`: work, reveal, claim, release, assign).
import { get, patch, post } from "../api.js";
import { ACTIVITY, busy, errorBox, fmtTime, h, loading, mount, statusTag, STATUS, toast } from "../ui.js";
import { amount, assignableReps, assignBar, localPhone } from "./common.js";

const OUTCOMES = ["已接通", "未接通", "有意向", "无意向", "稍后再联系"];
const KIND = { activity: "跟进", status: "状态", ownership: "归属", merge: "合并", unmerge: "撤销合并", edit: "编辑" };
const TASK_STATUS = { done: "已完成", cancelled: "已取消" };
const OWNERSHIP = { route: "自动分配", claim: "领取", release: "释放", assign: "分配", reassign: "重新分配",
  transfer: "转移", reclaim: "超时收回", reopen: "重新放回公海", import: "导入分配", merge: "合并" };

export async function render(view, ctx) {
  const id = ctx.args[0];
  mount(view, loading());
  let lead;
  try {
    lead = await get(`/leads/${encodeURIComponent(id)}`);
  } catch (err) {
    mount(view, h("h1", {}, "线索详情"), errorBox(err), h("a", { href: "#/leads" }, "返回我的线索"));
    return;
  }
  const again = () => render(view, ctx);
  const can = { work: false, reveal: false, claim: false, release: false, assign: false, ...lead.can };
  const works = can.work;
  const reps = can.assign ? await assignableReps(ctx.me).catch(() => []) : [];
  mount(view,
    h("div", { class: "row" }, h("h1", { class: "grow" }, lead.name || "（未留姓名）"), statusTag(lead.status)),
    h("p", { class: "muted" }, `编号 ${lead.lead_id}`),
    ownershipBar(lead, can, again),
    scoreCard(lead),
    profile(lead, can),
    can.work ? editCard(lead, again) : null,
    can.assign ? assignCard(lead, reps, again) : null,
    works ? quickLog(lead, again) : null,
    works && lead.statuses?.length ? statusForm(lead, again) : null,
    taskSection(lead, works, again),
    timeline(lead));
}

// A masked number can be revealed by those who work the lead (admins, too); the API records who,
// when and why, so the reason is asked for first.
function phoneCell(lead, can) {
  if (!lead.phone_masked) return h("a", { href: `tel:${lead.phone}` }, localPhone(lead));
  const cell = h("span", {}, localPhone(lead), " ");
  if (!can.reveal) return h("span", {}, localPhone(lead), h("span", { class: "muted" }, "（已脱敏）"));
  const slot = h("span");
  const form = h("form", { class: "inline reveal", hidden: true },
    h("label", {}, "查看原因 ", h("input", { name: "reason", required: true, maxlength: 200, placeholder: "如：客户来电核对号码" })),
    h("button", { type: "submit" }, "确认查看"));
  const open = h("button", { type: "button", class: "link", "data-test": "reveal" }, "查看完整号码");
  open.addEventListener("click", () => { form.hidden = false; open.hidden = true; form.reason.focus(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = form.reason.value.trim();
    const shown = await busy(form.querySelector("button"), () => post(`/leads/${lead.lead_id}/reveal`, { reason }), slot);
    if (shown) {
      cell.replaceChildren(h("a", { href: `tel:${shown.phone}` }, localPhone(shown)),
        h("span", { class: "muted" }, "（已记录查看：", fmtTime(shown.revealed_at), "）"));
    }
  });
  cell.append(open, form, slot, h("span", { class: "muted" }, "（已脱敏：完整号码仅负责人、本组主管可见，查看会留痕）"));
  return cell;
}

function profile(lead, can) {
  const labels = lead.labels || {};
  const rows = [
    ["手机", phoneCell(lead, can)],
    ["贷款类型", labels.loan_type], ["贷款金额", amount(lead.amount)], ["贷款用途", labels.purpose],
    ["客户类型", labels.customer_type], ["征信情况", labels.credit_status],
    ["城市", [lead.city, lead.province, lead.region].filter(Boolean).join(" / ")],
    ["来源", labels.source || lead.source], ["进线渠道", labels.channel], ["活动", lead.campaign], ["备注", lead.remark],
    ["负责人", lead.owner ? lead.owner_name || "—" : lead.status === "duplicate" ? null : "公海（无人负责）"], ["团队", lead.team_label],
    ["重复于", lead.status === "duplicate" && lead.duplicate_of
      ? h("a", { href: `#/lead/${encodeURIComponent(lead.duplicate_of)}`, "data-test": "original" }, `原线索 ${lead.duplicate_of}（在原线索上跟进）`) : null],
    ["下次跟进", lead.next_follow_up ? h("span", { id: "next-follow-up" }, fmtTime(lead.next_follow_up)) : null],
    ["创建时间", fmtTime(lead.created_at)], ["首次联系", lead.first_contact_at ? fmtTime(lead.first_contact_at) : null],
    ["分配依据", lead.route?.reason], ["签约金额", amount(lead.won_amount)], ["关闭原因", lead.close_reason],
    ...(lead.custom_fields || []).map((f) => [f.label, f.text]),
    ["授权同意", consent(lead)],
  ].filter(([, v]) => v !== undefined && v !== null && v !== "");
  return h("section", { class: "card", "aria-label": "客户资料" },
    h("dl", { class: "profile" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
}

function consent(lead) {
  const c = lead.consent;
  if (!c) return null;
  return [c.granted ? "已同意" : "未同意", c.at ? fmtTime(c.at) : null, lead.labels?.consent_channel,
    c.text_version ? `授权文本 ${c.text_version} 版` : null].filter(Boolean).join(" · ");
}

// 编辑资料: what the customer gave (remark, campaign, custom fields...) through PATCH /leads/{id} with the
// version read, so an edit made meanwhile by someone else is refused (409) instead of overwritten.
function editCard(lead, again) {
  const slot = h("div");
  const input = (key, label, value, attrs = {}) => h("label", {}, label,
    h("input", { name: key, value: value ?? "", "data-field": key, ...attrs }));
  // 多选: one checkbox per option (a retired one only where the lead has it), sent as a list of codes.
  const checks = (f) => h("fieldset", { class: "choices", "data-field": `custom.${f.key}`, "data-multi": "1" },
    h("legend", {}, f.label), (f.options || []).map((o) => h("label", { class: "inline" },
      h("input", { type: "checkbox", value: o.value, checked: (f.value || []).includes(o.value) }), o.label)));
  const custom = (lead.custom_fields || []).map((f) => f.type === "multi" ? checks(f) : (f.options ? h("label", {}, f.label,
    h("select", { name: `custom.${f.key}`, "data-field": `custom.${f.key}` },
      h("option", { value: "", selected: f.value === null || f.value === undefined }, "（未填写）"),
      f.options.map((o) => h("option", { value: o.value, selected: o.value === f.value }, o.label))))
    : input(`custom.${f.key}`, f.label, f.value, f.type === "number" ? { type: "number", step: "any" } : f.type === "date" ? { type: "date" } : {})));
  const form = h("form", { class: "edit-lead" },
    input("name", "客户姓名", lead.name, { maxlength: 50 }), input("city", "城市", lead.city, { maxlength: 50 }),
    input("campaign", "活动", lead.campaign, { maxlength: 100 }),
    h("label", {}, "备注", h("textarea", { name: "remark", "data-field": "remark", maxlength: 500, rows: 2 }, lead.remark || "")),
    custom, h("button", { type: "submit", class: "primary" }, "保存资料"), slot);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button[type=submit]"), async () => {
      const body = { version: lead.version };
      const customBody = {};
      for (const el of form.querySelectorAll("[data-field]")) {
        const key = el.dataset.field;
        if (el.dataset.multi) {
          const field = (lead.custom_fields || []).find((f) => `custom.${f.key}` === key);
          const chosen = [...el.querySelectorAll("input:checked")].map((c) => c.value);
          if (JSON.stringify(chosen) !== JSON.stringify(field?.value || [])) customBody[key.slice(7)] = chosen;
          continue;
        }
        const value = el.value.trim();
        if (key.startsWith("custom.")) {
          const field = (lead.custom_fields || []).find((f) => `custom.${f.key}` === key);
          if (String(field?.value ?? "") !== value) customBody[key.slice(7)] = value;
        } else if ((lead[key] ?? "") !== value) body[key] = value || null;
      }
      if (Object.keys(customBody).length) body.custom = customBody;
      if (Object.keys(body).length === 1) { toast("没有修改"); return; }
      await patch(`/leads/${encodeURIComponent(lead.lead_id)}`, body);
      toast("资料已保存");
      again();
    }, slot);
  });
  return h("details", { class: "card", id: "edit-lead" }, h("summary", {}, "编辑资料"), form);
}

function ownershipBar(lead, can, again) {
  const slot = h("div");
  if (can.claim) {
    const button = h("button", { type: "button", class: "primary", onclick: () => busy(button, async () => {
      await post(`/leads/${lead.lead_id}/claim`);
      toast("已领取");
      again();
    }, slot) }, "领取这条线索");
    return h("div", { class: "row" }, button, slot);
  }
  if (can.release) {
    const reason = h("input", { placeholder: "释放原因", "aria-label": "释放原因", required: true });
    const button = h("button", { type: "button", onclick: () => busy(button, async () => {
      await post(`/leads/${lead.lead_id}/release`, { reason: reason.value.trim() });
      toast("已释放回公海");
      again();
    }, slot) }, "释放回公海");
    return h("details", { class: "card" }, h("summary", {}, "释放回公海"), h("div", { class: "row" }, reason, button), slot);
  }
  return null;
}

// 分配 (a pool lead) or 转交 (an owned one) to a rep: one lead through POST /leads/assign; a refusal
// stays on the page with its message, a success re-renders the page.
function assignCard(lead, reps, again) {
  const verb = lead.owner ? "转交" : "分配";
  const bar = assignBar({ reps, button: verb, exclude: lead.owner, leadIds: () => [lead.lead_id], card: false,
    nameOf: () => lead.name || "（未留姓名）",
    onDone: (result) => {
      if (result.done) { toast(`已${verb}`); again(); return; }
      bar.querySelector(".assign-result").append(h("button", { type: "button", class: "link", onclick: again }, "刷新线索"));
    } });
  return h("section", { class: "card", id: "assign-card", "aria-label": verb },
    h("h2", {}, lead.owner ? `转交给其他销售（当前负责人：${lead.owner_name || "—"}）` : "分配给销售"), bar);
}

function quickLog(lead, again) {
  const slot = h("div");
  const note = h("input", { placeholder: "备注（可选）", "aria-label": "跟进备注", class: "grow" });
  const outcomes = h("div", { class: "chips", hidden: true, role: "group", "aria-label": "结果" });
  const types = h("div", { class: "chips", role: "group", "aria-label": "跟进方式" },
    Object.entries(ACTIVITY).map(([type, label]) => h("button", { type: "button", "data-activity": type,
      "aria-pressed": "false", onclick: (e) => {
        for (const b of types.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === e.currentTarget));
        mount(outcomes, OUTCOMES.map((outcome) => {
          const button = h("button", { type: "button", class: "primary", "data-outcome": outcome, onclick: () => busy(button, async () => {
            await post(`/leads/${lead.lead_id}/activities`, { type, outcome, content: note.value.trim() || undefined });
            toast(`已记录${label}：${outcome}`);
            again();
          }, slot) }, outcome);
          return button;
        }));
        outcomes.hidden = false;
        outcomes.querySelector("button").focus();
      } }, label)));
  return h("section", { class: "card", "aria-label": "记录跟进" }, h("h2", {}, "记录跟进"),
    h("p", { class: "muted" }, "先选方式，再选结果即保存。"), types, h("div", { class: "row", style: "margin-top:8px" }, note),
    h("div", { style: "margin-top:8px" }, outcomes), slot);
}

function statusForm(lead, again) {
  const slot = h("div");
  const extra = h("div", { class: "row" });
  const target = h("select", { id: "status-target", "aria-label": "新状态", onchange: () => fields() },
    h("option", { value: "" }, "变更为…"), lead.statuses.map((s) => h("option", { value: s }, STATUS[s])));
  const reason = h("input", { id: "status-reason", "aria-label": "原因", placeholder: "原因" });
  const wonAmount = h("input", { type: "number", min: 0, step: "0.01", "aria-label": "放款金额（万元）", placeholder: "放款金额（万元）" });
  const wonDate = h("input", { type: "date", "aria-label": "放款日期" });
  function fields() {
    const s = target.value;
    reason.placeholder = ["lost", "invalid", "pool"].includes(s) ? "原因（必填）" : "原因（可选）";
    mount(extra, s ? reason : null, s === "won" ? [wonAmount, wonDate] : null);
  }
  const button = h("button", { type: "button", class: "primary", id: "status-save", onclick: () => busy(button, async () => {
    if (!target.value) { toast("请选择新状态"); return; }
    const body = { status: target.value, version: lead.version, reason: reason.value.trim() || undefined };
    if (target.value === "won") Object.assign(body, { won_amount: wonAmount.value ? Number(wonAmount.value) : undefined,
      won_date: wonDate.value || undefined });
    await post(`/leads/${lead.lead_id}/status`, body);
    toast(`状态已变更为「${STATUS[target.value]}」`);
    again();
  }, slot) }, "保存状态");
  return h("section", { class: "card", "aria-label": "变更状态" }, h("h2", {}, "变更状态"),
    h("div", { class: "row" }, target, extra, button), slot);
}

function taskSection(lead, works, again) {
  const slot = h("div");
  const open = (lead.tasks || []).filter((t) => t.status === "open").sort((a, b) => a.due_at.localeCompare(b.due_at));
  const done = (lead.tasks || []).filter((t) => t.status !== "open");
  const now = new Date().toISOString();
  const item = (t) => {
    const actions = works && t.status === "open" ? [
      h("button", { type: "button", onclick: (e) => busy(e.currentTarget, async () => {
        await post(`/leads/${lead.lead_id}/tasks/${t.task_id}/complete`); toast("任务已完成"); again(); }, slot) }, "完成"),
      h("button", { type: "button", onclick: (e) => busy(e.currentTarget, async () => {
        const until = new Date(Math.max(Date.now(), Date.parse(t.due_at)) + 86400000).toISOString();
        await post(`/leads/${lead.lead_id}/tasks/${t.task_id}/snooze`, { until }); toast("已推迟一天"); again(); }, slot) }, "推迟一天"),
    ] : [];
    return h("li", { dataset: { task: t.task_id } }, h("div", { class: "row" }, h("span", { class: "grow" }, t.title),
      t.status === "open" && t.due_at < now ? h("span", { class: "tag s-lost" }, "已逾期") : null, ...actions),
      h("div", { class: "muted" }, [`到期 ${fmtTime(t.due_at)}`, TASK_STATUS[t.status], t.owner_name ? `负责人 ${t.owner_name}` : null]
        .filter(Boolean).join(" · ")));
  };
  const title = h("input", { placeholder: "任务内容", "aria-label": "任务内容", maxlength: 50 });
  const due = h("input", { type: "datetime-local", "aria-label": "到期时间（北京时间）" });
  const add = h("button", { type: "button", onclick: () => busy(add, async () => {
    await post(`/leads/${lead.lead_id}/tasks`, { title: title.value.trim(), due_at: due.value ? `${due.value}:00+08:00` : "" });
    toast("任务已创建"); again();
  }, slot) }, "新建任务");
  return h("section", { class: "card", "aria-label": "任务" }, h("h2", {}, "任务"),
    open.length || done.length ? h("ul", { class: "list", id: "task-list" }, open.map(item), done.slice(0, 5).map(item))
      : h("p", { class: "muted" }, "暂无任务"),
    works ? h("div", { class: "row" }, title, due, add) : null, slot);
}

function describe(event) {
  if (event.kind === "activity") {
    return [event.activity_label || ACTIVITY[event.activity_type] || "跟进", event.outcome, event.content, event.next_step,
      event.channel ? `渠道 ${event.channel_label || "其他"}` : null,
      event.filled?.length ? `补充资料：${event.filled.map((f) => `${f.label}「${f.text}」`).join("、")}` : null]
      .filter(Boolean).join(" · ");
  }
  if (event.kind === "ownership") {
    const d = event.detail || {};
    const from = d.from_owner ? d.from_owner_name || "其他销售" : ["assign", "claim"].includes(d.kind) ? "公海" : null;
    const to = d.to_owner ? d.to_owner_name || "其他销售" : d.to_team ? d.to_team_label || "其他团队" : "公海";
    return [OWNERSHIP[d.kind] || "归属变更", `${from ? from + " " : ""}→ ${to}`, event.reason].filter(Boolean).join(" · ");
  }
  if (event.kind === "status") {
    return [`${STATUS[event.from_status] || event.from_status || ""} → ${STATUS[event.to_status] || event.to_status}`,
      event.reason].filter(Boolean).join(" · ");
  }
  if (event.kind === "edit") return `修改资料：${(event.fields_labels || []).join("、") || "—"}`;
  return [event.related_lead ? `线索 ${event.related_lead}` : null, event.reason].filter(Boolean).join(" · ");
}

function timeline(lead) {
  const events = [...(lead.history || []), ...(lead.merged_history || [])].sort((a, b) => b.at.localeCompare(a.at));
  return h("section", { class: "card", "aria-label": "跟进记录" }, h("h2", {}, "跟进记录与历史"),
    events.length ? h("ul", { class: "timeline", id: "timeline" }, events.map((e) => h("li", {},
      h("div", {}, h("span", { class: "tag" }, KIND[e.kind] || e.kind), describe(e)),
      h("div", { class: "muted" }, `${fmtTime(e.at)} · ${e.actor === "system" || !e.actor ? "系统" : e.actor_name || "其他用户"}`)))) : h("p", { class: "muted" }, "暂无记录"));
}

// 线索评分: the score, its band and the factors behind it, and which scorer gave it (the model
// trained on the team's own won/lost history, or the admin's prior weights until there is enough).
function scoreCard(lead) {
  if (lead.score === undefined || lead.score === null) return null;
  const labels = lead.labels || {};
  const reasons = lead.score_reasons || [];
  return h("section", { class: "card", "aria-label": "线索评分", id: "lead-score" },
    h("div", { class: "row" }, h("strong", {}, `评分 ${lead.score}`),
      h("span", { class: "tag" }, labels.score_band || ""),
      h("span", { class: "muted" }, `依据：${labels.score_basis || ""}`)),
    reasons.length ? h("p", { class: "score-reasons" }, reasons.flatMap((r, i) =>
      [i ? " · " : "", h("span", { style: "white-space: nowrap" }, r)])) : null);
}
