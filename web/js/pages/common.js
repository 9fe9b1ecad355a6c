// Pieces shared by the lead lists and the lead page: the lead card, and assigning leads to a rep.
import { get, post } from "../api.js";
import { busy, fmtTime, h, leadLink, statusTag, toast } from "../ui.js";

export function amount(value) {
  return value === undefined || value === null ? null : `${value} 万元`;
}

/** The number as people write it (`138 1620 4573`, `021-6234 5678`, masked alike): the API's
 * `phone_display` (phonenumbers on the server); the raw value only from an older answer. */
export function localPhone(lead) {
  return lead?.phone_display || lead?.phone || "";
}

export function leadCard(lead, { select, extra, nextFollowUp, showOwner = true } = {}) {
  const labels = lead.labels || {};
  const follow = nextFollowUp || lead.next_follow_up;
  return h("li", { dataset: { lead: lead.lead_id } },
    h("div", { class: "row" },
      select || null,
      h("span", { class: "lead-name grow" }, leadLink(lead.lead_id, lead.name || "（未留姓名）")),
      statusTag(lead.status)),
    h("div", { class: "muted" },
      [localPhone(lead), labels.loan_type, amount(lead.amount), lead.city].filter(Boolean).join(" · ")),
    showOwner && (lead.owner_name || lead.team_label) ? h("div", { class: "muted owner" },
      [lead.owner_name ? `负责人 ${lead.owner_name}` : null, lead.team_label].filter(Boolean).join(" · ")) : null,
    h("div", { class: "muted" }, `编号 ${lead.lead_id} · 创建 ${fmtTime(lead.created_at, true)}`,
      follow ? h("span", { class: "follow" }, ` · 下次跟进 ${fmtTime(follow, true)}`) : ""),
    extra || null);
}

let repsCache = null;
let repsAt = 0;
let repsFor = null;

/** The reps the signed-in supervisor (their team) or admin (every active rep, with the team) may assign to
 * (kept for a minute: the pool page and the lead pages opened from it share one lookup). */
export function assignableReps(me) {
  if (!repsCache || repsFor !== me.user_id || Date.now() - repsAt > 60000) {
    repsAt = Date.now();
    repsFor = me.user_id;
    repsCache = Promise.all([get("/users"), me.role === "admin" ? get("/teams").catch(() => ({ items: [] })) : null])
      .then(([users, teams]) => {
        const label = new Map((teams?.items || []).map((t) => [t.team_id, t.label]));
        return users.items.filter((u) => u.role === "rep" && u.active && (me.role === "admin" || u.team === me.team))
          .map((u) => ({ user_id: u.user_id, label: me.role === "admin" ? `${u.name}（${label.get(u.team) || "未分组"}）` : u.name }));
      })
      .catch((err) => { repsCache = null; throw err; });
  }
  return repsCache;
}

/**
 * 分配 / 转交: a rep select, a reason and a button that POSTs /leads/assign for `leadIds()`; the
 * per-lead outcome is shown by customer name (`nameOf(id)`), then `onDone(result)` runs.
 */
export function assignBar({ reps, leadIds, nameOf = (id) => id, onDone, button = "分配", exclude = null, id = null,
  prefix = null, card = true }) {
  const to = h("select", { "aria-label": "分配给" }, h("option", { value: "" }, "分配给…"),
    reps.filter((r) => r.user_id !== exclude).map((r) => h("option", { value: r.user_id }, r.label)));
  const reason = h("input", { placeholder: "原因（可选）", "aria-label": "分配原因", maxlength: 200 });
  const out = h("div", { class: "assign-result" });
  const go = h("button", { type: "button", class: "primary", onclick: () => busy(go, async () => {
    const ids = leadIds();
    if (!ids.length || !to.value) { toast(ids.length ? "请选择销售" : "请先勾选线索"); return; }
    const result = await post("/leads/assign", { lead_ids: ids, to: to.value, reason: reason.value.trim() });
    const refused = result.results.filter((r) => r.status !== "done");
    const who = to.selectedOptions[0]?.textContent || "";
    out.replaceChildren(h("div", { class: refused.length ? "error" : "ok", role: "status" },
      `已分配 ${result.done} 条，未成功 ${result.refused} 条`,
      h("ul", {}, result.results.map((r) => h("li", { dataset: { lead: r.lead_id, status: r.status } },
        `${nameOf(r.lead_id)}：${r.status === "done" ? `已分配给 ${who}` : r.error?.message || "未成功"}`)))));
    if (result.done) reason.value = "";
    if (onDone) await onDone(result);
  }, out) }, button);
  return h("div", { class: card ? "card assign" : "assign", id }, h("div", { class: "row" }, prefix, to, reason, go), out);
}
