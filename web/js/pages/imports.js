// 导入: upload a spreadsheet (POST /api/imports → presigned upload_url, PUT with progress), follow
// the job (GET /api/imports/{id}: status, counts, error_report_url), download the template.
// SPEC's external contract; until the API ships, the page says so.
import { offers, post, get, api } from "../api.js";
import { busy, errorBox, h, mount, toast } from "../ui.js";

const JOBS = "loanleads.imports";
const STATUS = { queued: "排队中", running: "导入中", done: "已完成", failed: "失败" };

export async function render(view) {
  const body = h("div");
  mount(view, h("h1", {}, "导入"), body);
  if (!(await offers("/imports", "post"))) {
    mount(body, h("div", { class: "card" }, h("p", {}, "导入接口尚未上线。"),
      h("p", { class: "muted" }, "上线后可在此上传 .xlsx / .xls / .csv 文件，查看进度与导入结果，下载错误报告和导入模板。")));
    return;
  }
  const file = h("input", { type: "file", accept: ".xlsx,.xls,.csv", "aria-label": "选择文件" });
  const bar = h("progress", { class: "progress", max: 100, value: 0, hidden: true });
  const out = h("div");
  const jobs = h("ul", { class: "list", id: "import-jobs" });
  const upload = h("button", { type: "button", class: "primary", onclick: () => busy(upload, async () => {
    const chosen = file.files[0];
    if (!chosen) throw { message: "请先选择文件" };
    const job = await post("/imports", { filename: chosen.name });
    bar.hidden = false;
    await putWithProgress(job.upload_url, chosen, (p) => { bar.value = p; });
    remember(job.import_id, chosen.name);
    toast("上传完成，正在导入");
    drawJobs();
  }, out) }, "上传");
  const template = (await offers("/imports/template")) ? h("button", { type: "button", onclick: (e) => busy(e.currentTarget, async () => {
    const response = await api("GET", "/imports/template", undefined, { raw: true });
    const link = h("a", { href: URL.createObjectURL(await response.blob()), download: "线索导入模板.xlsx" });
    link.click();
  }, out) }, "下载导入模板") : null;
  mount(body, h("section", { class: "card" }, h("div", { class: "row" }, file, upload, template), bar, out),
    h("h2", {}, "导入记录"), jobs);
  drawJobs();

  function drawJobs() {
    const list = JSON.parse(localStorage.getItem(JOBS) || "[]");
    mount(jobs, list.length ? list.map(jobItem) : h("li", { class: "muted" }, "暂无导入记录"));
  }
}

function remember(id, name) {
  const list = JSON.parse(localStorage.getItem(JOBS) || "[]");
  localStorage.setItem(JOBS, JSON.stringify([{ id, name, at: new Date().toISOString() }, ...list].slice(0, 20)));
}

function jobItem(job) {
  const li = h("li", { dataset: { import: job.id } }, h("strong", {}, job.name), h("div", { class: "muted" }, "加载中…"));
  const poll = async () => {
    try {
      const state = await get(`/imports/${encodeURIComponent(job.id)}`);
      const c = state.counts || {};
      mount(li, h("div", { class: "row" }, h("strong", { class: "grow" }, job.name), h("span", { class: "tag" }, STATUS[state.status] || state.status)),
        h("div", {}, `共 ${c.rows ?? 0} 行：导入 ${c.imported ?? 0}，重复 ${c.duplicate ?? 0}，拒绝 ${c.rejected ?? 0}`),
        state.error_report_url ? h("a", { href: state.error_report_url }, "下载错误报告") : null);
      if (state.status === "queued" || state.status === "running") setTimeout(poll, 1500);
    } catch (err) {
      mount(li, h("strong", {}, job.name), errorBox(err));
    }
  };
  poll();
  return li;
}

function putWithProgress(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(Math.round((100 * e.loaded) / e.total)); };
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject({ message: `上传失败（${xhr.status}）` }));
    xhr.onerror = () => reject({ message: "上传失败，请检查网络" });
    xhr.send(file);
  });
}
