// 今日待办: overdue and today's open tasks (and the next 7 days) with the customer's name, complete and snooze.
import { get, post } from "../api.js";
import { busy, empty, fmtTime, h, leadLink, mount, section, toast } from "../ui.js";

export async function render(view) {
  const body = h("div");
  mount(view, h("h1", {}, "今日待办"), body);
  const draw = () => section(body, () => get("/tasks"), (data) => [
    group("已逾期", data.overdue, true), group("今天", data.today), group("未来 7 天", data.upcoming),
  ]);
  const group = (title, tasks, overdue = false) => h("section", { "aria-label": title },
    h("h2", {}, `${title}（${tasks.length}）`),
    tasks.length ? h("ul", { class: "list", id: `tasks-${overdue ? "overdue" : title === "今天" ? "today" : "upcoming"}` },
      tasks.map((t) => h("li", { dataset: { task: t.task_id, lead: t.lead_id } },
        h("div", { class: "row" }, h("span", { class: "grow" }, t.title, " · ", leadLink(t.lead_id, t.lead_name || "（未留姓名）"),
          h("span", { class: "muted" }, ` 编号 ${t.lead_id}`)),
          overdue ? h("span", { class: "tag s-lost" }, "已逾期") : null),
        h("div", { class: "row" }, h("span", { class: "muted grow" }, `到期 ${fmtTime(t.due_at)}`),
          h("button", { type: "button", onclick: (e) => busy(e.currentTarget, async () => {
            await post(`/leads/${t.lead_id}/tasks/${t.task_id}/complete`); toast("任务已完成"); draw(); }) }, "完成"),
          h("button", { type: "button", onclick: (e) => busy(e.currentTarget, async () => {
            const until = new Date(Math.max(Date.now(), Date.parse(t.due_at)) + 86400000).toISOString();
            await post(`/leads/${t.lead_id}/tasks/${t.task_id}/snooze`, { until }); toast("已推迟一天"); draw(); }) }, "推迟一天")))))
      : empty("没有任务"));
  await draw();
}
