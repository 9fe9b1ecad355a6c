// 消息: the inbox, newest first, each with its customer's name (a 新分配 of several leads: each
// customer's); a message about a lead opens that lead's page (and is marked read); the badge follows.
import { get, post, query } from "../api.js";
import { refreshUnread } from "../app.js";
import { busy, empty, errorBox, fmtTime, h, loading, mount } from "../ui.js";

export async function render(view) {
  let unreadOnly = false;
  let cursor = null;
  const list = h("ul", { class: "list", id: "inbox-list" });
  const slot = h("div");
  const count = h("span", { class: "muted", id: "unread-count" });
  const more = h("button", { type: "button", hidden: true, onclick: () => load(false) }, "加载更多");
  const markAll = h("button", { type: "button", onclick: () => busy(markAll, async () => {
    const ids = [...list.querySelectorAll("li.unread")].map((li) => li.dataset.id).slice(0, 100);
    if (ids.length) await post("/inbox/read", { ids });
    await load(true);
  }, slot) }, "本页全部已读");
  mount(view, h("h1", {}, "消息"),
    h("div", { class: "card row" }, h("label", { class: "inline" },
      h("input", { type: "checkbox", onchange: (e) => { unreadOnly = e.target.checked; load(true); } }), "只看未读"),
    count, h("span", { class: "grow" }), markAll),
    slot, list, more);
  await load(true);

  async function load(reset) {
    if (reset) { cursor = null; mount(list, loading()); }
    slot.replaceChildren();
    try {
      const page = await get("/inbox" + query({ unread: unreadOnly ? 1 : "", limit: 30, cursor }));
      cursor = page.cursor;
      more.hidden = !cursor;
      count.textContent = `未读 ${page.unread} 条`;
      const items = page.items.map(item);
      if (reset) mount(list, items.length ? items : empty("暂无消息")); else list.append(...items);
      refreshUnread();
    } catch (err) {
      mount(list);
      slot.replaceChildren(errorBox(err));
    }
  }

  function item(n) {
    // unread: marked read first, then the lead opened (or, without one, the list shown again)
    const openLead = (leadId) => async (event) => {
      if (!n.read) {
        event.preventDefault();
        await post("/inbox/read", { ids: [n.id] }).catch(() => null);
        refreshUnread();
        if (leadId) location.hash = `#/lead/${encodeURIComponent(leadId)}`; else load(true);
      }
    };
    const open = openLead(n.lead_id);
    const href = n.lead_id ? `#/lead/${encodeURIComponent(n.lead_id)}` : null;
    return h("li", { class: n.read ? "" : "unread", dataset: { id: n.id, lead: n.lead_id || null } },
      h("div", { class: "row" }, h("strong", { class: "grow" }, href ? h("a", { href, onclick: open }, n.title) : n.title),
        n.read ? null : h("span", { class: "tag" }, "未读")),
      n.lead_id ? h("div", { class: "customer" }, "客户：", h("a", { href, onclick: open }, n.lead_name || "（未留姓名）"),
        h("span", { class: "muted" }, ` 编号 ${n.lead_id}`)) : null,
      // several leads placed together: one message, each customer a link to their lead
      n.leads ? h("div", { class: "customer" }, "客户：", ...n.leads.flatMap((x, i) => [i ? "、" : null,
        h("a", { href: `#/lead/${encodeURIComponent(x.lead_id)}`, onclick: openLead(x.lead_id) }, x.name || "（未留姓名）")])) : null,
      n.body ? h("div", {}, n.body) : null,
      h("div", { class: "row muted" }, h("span", { class: "grow" }, fmtTime(n.created_at)),
        href ? h("a", { href, onclick: open }, "查看线索")
          : n.read ? null : h("button", { type: "button", class: "link", onclick: open }, "标为已读")));
  }
}
