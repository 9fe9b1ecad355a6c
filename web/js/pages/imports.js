// 导入: upload a spreadsheet (POST /api/imports → a presigned upload_url, PUT with upload progress),
// the job list (GET /api/imports; reps their own, supervisors their team's, admins all) polled while
// a job is queued or running, each job's progress, counts, refusal reason and error report; the
// template (GET /api/imports/template).
import { get, post } from "../api.js";
import { busy, download, errorBox, fmtTime, h, mount, toast } from "../ui.js";

const STATUS = { queued: "排队中", running: "导入中", done: "已完成", failed: "失败" };
const TYPES = { csv: "text/csv", xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  xls: "application/vnd.ms-excel" };

export async function render(view, { me } = {}) {
  // Admins also import marketing spend (成本表: 日期或月份、渠道、推广活动、合作方、金额) through the same jobs.
  const kind = me?.role === "admin" ? h("select", { id: "import-kind", "aria-label": "导入内容" },
    h("option", { value: "leads" }, "线索"), h("option", { value: "costs" }, "投放成本")) : null;
  const chosenName = h("span", { class: "muted grow" }, "未选择文件");
  const file = h("input", { type: "file", id: "import-file", class: "visually-hidden", accept: ".xlsx,.xls,.csv",
    onchange: () => { chosenName.textContent = file.files[0]?.name || "未选择文件"; } });
  const picker = h("label", { class: "btn file-pick" }, "选择文件", file);
  const bar = h("progress", { class: "progress", id: "upload-progress", max: 100, value: 0, hidden: true, "aria-label": "上传进度" });
  const out = h("div");
  const jobs = h("ul", { class: "list", id: "import-jobs" });
  let timer = null;
  const upload = h("button", { type: "button", class: "primary", id: "import-upload", onclick: () => busy(upload, async () => {
    const chosen = file.files[0];
    if (!chosen) throw { message: "请先选择文件" };
    const job = await post("/imports", { filename: chosen.name, ...(kind?.value === "costs" ? { kind: "costs" } : {}) });
    bar.hidden = false;
    bar.value = 0;
    await putWithProgress(job.upload_url, chosen, (p) => { bar.value = p; });
    file.value = "";
    chosenName.textContent = "未选择文件";
    toast("上传完成，正在导入");
    await refresh();
  }, out) }, "上传");
  const template = h("button", { type: "button", id: "import-template", onclick: () => busy(template, async () => {
    const link = await get("/imports/template");
    download(link.url, link.filename);
  }, out) }, "下载导入模板");
  mount(view, h("h1", {}, "导入"),
    h("section", { class: "card" },
      h("p", { class: "muted" }, "支持 .xlsx、.xls、.csv；第一行为表头（可用模板中的中文列名），姓名和手机号必填。重复和有误的行不会导入，可下载错误报告查看原因。"),
      kind ? h("p", { class: "muted" }, "管理员也可导入投放成本表：表头为“日期”或“月份”、“渠道”、“推广活动”（可选）、“合作方”（可选）、“金额”。") : null,
      h("div", { class: "row" }, kind ? h("label", {}, "导入内容", kind) : null, picker, chosenName),
      h("div", { class: "row" }, upload, template), bar, out),
    h("h2", {}, "导入记录"), jobs);
  await refresh();

  async function refresh() {
    clearTimeout(timer);
    if (!jobs.isConnected && timer !== null) return; // the page was left
    try {
      const data = await get("/imports");
      mount(jobs, data.items.length ? data.items.map(jobItem) : h("li", { class: "muted" }, "暂无导入记录"));
      if (data.items.some((j) => j.status === "queued" || j.status === "running")) timer = setTimeout(refresh, 1500);
    } catch (err) {
      mount(jobs, h("li", {}, errorBox(err), h("button", { type: "button", onclick: refresh }, "重试")));
    }
  }
}

function jobItem(job) {
  const c = job.counts || {};
  const p = job.progress || {};
  const mapped = Object.entries(job.columns?.mapped || {});
  const ignored = job.columns?.ignored || [];
  const active = job.status === "queued" || job.status === "running";
  return h("li", { dataset: { import: job.import_id, status: job.status } },
    h("div", { class: "row" }, h("strong", { class: "grow" }, job.filename),
      h("span", { class: `tag i-${job.status}` }, STATUS[job.status] || job.status)),
    h("div", { class: "muted" }, `${job.import_id} · ${job.partner_id ? `合作方 ${job.partner_name || ""}`.trim() : job.uploaded_by_name || "其他用户"} · ${fmtTime(job.created_at)}`),
    active ? h("div", {}, h("progress", { class: "progress", max: p.total || 1, value: p.processed || 0,
      "aria-label": "导入进度" }), h("span", { class: "muted" }, p.total ? `已处理 ${p.processed} / ${p.total} 行` : "等待处理…")) : null,
    job.status === "done" || c.rows ? h("div", { class: "counts" },
      `共 ${c.rows ?? 0} 行：新线索 ${c.new ?? c.imported ?? 0}，与已有线索重复 ${c.existing_duplicate ?? 0}，` +
      `文件内重复 ${c.duplicate ?? 0}，未通过 ${c.rejected ?? 0}`,
      c.existing_duplicate ? h("span", { class: "muted" }, "（与已有线索重复的行已合并到原线索，记为再次咨询）") : null) : null,
    job.error ? h("div", { class: "error", role: "alert" }, `未导入：${job.error.message}`) : null,
    mapped.length || ignored.length ? h("div", { class: "muted" },
      mapped.length ? `识别的列：${mapped.map(([k]) => k).join("、")}` : "",
      ignored.length ? `；忽略的列：${ignored.join("、")}` : "") : null,
    job.error_report_url ? h("a", { href: job.error_report_url, class: "report", download: "" }, "下载错误报告") : null);
}

function putWithProgress(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    const type = TYPES[file.name.split(".").pop().toLowerCase()] || file.type || "application/octet-stream";
    xhr.setRequestHeader("Content-Type", type);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(Math.round((100 * e.loaded) / e.total)); };
    xhr.onload = () => (xhr.status < 300 ? (onProgress(100), resolve()) : reject({ message: `上传失败（${xhr.status}）` }));
    xhr.onerror = () => reject({ message: "上传失败，请检查网络" });
    xhr.send(file);
  });
}
