// Pieces shared by the lead lists.
import { fmtTime, h, leadLink, statusTag } from "../ui.js";

export function amount(value) {
  return value === undefined || value === null ? null : `${value} 万元`;
}

/** +8613816204573 → 138 1620 4573 (masked numbers stay as they are). */
export function localPhone(phone) {
  const m = /^\+86(1\d{2})(\d{4})(\d{4})$/.exec(phone || "");
  return m ? `${m[1]} ${m[2]} ${m[3]}` : phone;
}

export function leadCard(lead, { select, extra, nextFollowUp, showOwner = true } = {}) {
  const labels = lead.labels || {};
  return h("li", { dataset: { lead: lead.lead_id } },
    h("div", { class: "row" },
      select || null,
      h("span", { class: "lead-name grow" }, leadLink(lead.lead_id, lead.name || "（未留姓名）")),
      statusTag(lead.status)),
    h("div", { class: "muted" },
      [localPhone(lead.phone), labels.loan_type, amount(lead.amount), lead.city,
        showOwner && lead.owner ? `负责人 ${lead.owner}` : null].filter(Boolean).join(" · ")),
    h("div", { class: "muted" }, `${lead.lead_id} · 创建 ${fmtTime(lead.created_at, true)}`,
      nextFollowUp ? ` · 下次跟进 ${fmtTime(nextFollowUp, true)}` : ""),
    extra || null);
}
