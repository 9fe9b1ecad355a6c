// 公海池: the unowned leads, newest first (phones masked); reps claim one; supervisors (their team's
// reps) and admins (any rep) tick leads and assign them; export the filtered pool to Excel.
import { get, post, query } from "../api.js";
import { busy, download, empty, errorBox, h, loading, mount, toast } from "../ui.js";
import { assignableReps, assignBar, leadCard } from "./common.js";

const REGIONS = ["华东", "华南", "华北", "华中", "西南", "西北", "东北"];

export async function render(view, { me }) {
  const assigns = me.role !== "rep";
  const [profile, reps] = await Promise.all([get("/config/lead-profile").catch(() => null),
    assigns ? assignableReps(me).catch(() => []) : null]);
  const selected = new Set();
  const names = new Map();
  const count = h("span", { class: "muted", id: "pool-selected" }, "已选 0 条");
  const boxes = () => [...view.querySelectorAll("#pool-list input[type=checkbox]")];
  const pick = (box, on) => {
    box.checked = on;
    if (on) selected.add(box.dataset.lead); else selected.delete(box.dataset.lead);
  };
  const counted = () => {
    count.textContent = `已选 ${selected.size} 条`;
    all.checked = selected.size > 0 && boxes().every((b) => b.checked);
  };
  const all = h("input", { type: "checkbox", onchange: (e) => {
    for (const box of boxes()) pick(box, e.target.checked);
    counted();
  } });
  const loanTypes = profile?.document?.options?.loan_type || [];
  const filters = { region: "", loan_type: "", min_amount: "", max_amount: "", sort: "" };
  let cursor = null;
  const list = h("ul", { class: "list", id: "pool-list" });
  const slot = h("div");
  const more = h("button", { type: "button", hidden: true, onclick: () => load(false) }, "加载更多");
  const set = (key) => (e) => { filters[key] = e.target.value.trim(); load(true); };
  const exportOut = h("div");
  const exportButton = h("button", { type: "button", id: "export-pool", onclick: () => busy(exportButton, async () => {
    const file = await get("/exports/leads" + query({ scope: "pool", region: filters.region, loan_type: filters.loan_type }));
    download(file.url, file.filename);
    exportOut.replaceChildren(h("div", { class: "ok", role: "status" }, `已导出 ${file.rows} 条（按大区、贷款类型筛选）：`,
      h("a", { href: file.url, download: file.filename }, file.filename)));
  }, exportOut) }, "导出Excel");
  mount(view, h("h1", {}, "公海池"),
    h("div", { class: "card row" },
      h("select", { "aria-label": "大区", onchange: set("region") }, h("option", { value: "" }, "全部大区"),
        REGIONS.map((r) => h("option", { value: r }, r))),
      h("select", { "aria-label": "贷款类型", onchange: set("loan_type") }, h("option", { value: "" }, "全部类型"),
        loanTypes.map((o) => h("option", { value: o.value }, o.label))),
      h("input", { type: "number", min: 0, placeholder: "最低金额（万元）", "aria-label": "最低金额（万元）", onchange: set("min_amount") }),
      h("input", { type: "number", min: 0, placeholder: "最高金额（万元）", "aria-label": "最高金额（万元）", onchange: set("max_amount") }),
      scoreSort(set("sort")),
      exportButton),
    exportOut,
    assigns ? assignBar({ reps, id: "pool-assign", leadIds: () => [...selected],
      prefix: [h("label", { class: "inline" }, all, "全选本页"), count],
      nameOf: (id) => names.get(id) || "（未留姓名）", onDone: () => load(true) }) : null,
    slot, list, more);
  await load(true);

  async function load(reset) {
    if (reset) { cursor = null; selected.clear(); if (assigns) counted(); mount(list, loading()); }
    slot.replaceChildren();
    try {
      const page = await get("/pool" + query({ ...filters, cursor }));
      cursor = page.cursor;
      more.hidden = !cursor;
      const items = page.items.map((lead) => {
        names.set(lead.lead_id, lead.name || "（未留姓名）");
        if (assigns) {
          return leadCard(lead, { select: h("input", { type: "checkbox", "aria-label": `选择 ${lead.name || "（未留姓名）"}`,
            dataset: { lead: lead.lead_id }, onchange: (e) => { pick(e.target, e.target.checked); counted(); } }) });
        }
        const out = h("div");
        const button = h("button", { type: "button", class: "primary", onclick: () => busy(button, async () => {
          await post(`/leads/${encodeURIComponent(lead.lead_id)}/claim`);
          toast(`已领取 ${lead.name || "（未留姓名）"}`);
          card.replaceWith(h("li", { class: "ok" }, "已领取：", h("a", { href: `#/lead/${lead.lead_id}` }, lead.name || "（未留姓名）")));
        }, out) }, "领取");
        const card = leadCard(lead, { extra: h("div", { class: "row" }, button, out) });
        return card;
      });
      if (reset) mount(list, items.length ? items : empty("公海池暂无线索"));
      else list.append(...items);
    } catch (err) {
      mount(list);
      slot.replaceChildren(errorBox(err));
    }
  }
}

// 排序: newest first (the default) or by lead score, highest first (sorts each page the pool returns).
function scoreSort(onchange) {
  return h("select", { "aria-label": "排序", id: "pool-sort", onchange },
    h("option", { value: "" }, "最新在前"), h("option", { value: "score" }, "评分高在前"));
}
