// The frame every configuration form shares (规则 page): a form tab and an advanced JSON tab that
// round-trip the same draft; 校验; 发布 showing what changes against the current version (in words,
// never codes), an optional preview, and a required note; the version list (who, when, note) with
// 回滚. Form mistakes are found before anything is sent and named by the field's Chinese label.
import { get, post, put } from "../api.js";
import { busy, cardTable, chineseMessage, h, mount, toast } from "../ui.js";

/** A form mistake (or the API's refusal) with the fields named in Chinese. */
export class FormErrors extends Error {
  constructor(fields, message = "表单有误，未发布：请按提示修改") {
    super(message);
    this.fields = fields;
  }
}

/** Where a JSON text first goes wrong (an offset), for browsers whose parser error does not say. */
function errorOffset(text) {
  let i = 0;
  const ws = () => { while (/\s/.test(text[i] || "")) i += 1; };
  const fail = () => { throw i; };
  const literal = (word) => { if (text.startsWith(word, i)) i += word.length; else fail(); };
  const string = () => {
    i += 1;
    while (i < text.length && text[i] !== "\"") { if (text[i] === "\\") i += 1; else if (text[i] < " ") fail(); i += 1; }
    if (text[i] !== "\"") fail();
    i += 1;
  };
  const number = () => { const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i)); if (!m) fail(); i += m[0].length; };
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i += 1; ws();
      if (text[i] === "}") { i += 1; return; }
      for (;;) { ws(); if (text[i] !== "\"") fail(); string(); ws(); if (text[i] !== ":") fail(); i += 1; value(); ws();
        if (text[i] === ",") { i += 1; continue; } if (text[i] === "}") { i += 1; return; } fail(); }
    } else if (c === "[") {
      i += 1; ws();
      if (text[i] === "]") { i += 1; return; }
      for (;;) { value(); ws(); if (text[i] === ",") { i += 1; continue; } if (text[i] === "]") { i += 1; return; } fail(); }
    } else if (c === "\"") string();
    else if (c === "t") literal("true");
    else if (c === "f") literal("false");
    else if (c === "n") literal("null");
    else number();
  };
  try { value(); ws(); if (i < text.length) fail(); } catch (at) { if (typeof at === "number") return at; throw at; }
  return null;
}

/** The draft as data, or a Chinese message naming the line and column of the first mistake. */
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    const at = errorOffset(text);
    let where = "";
    if (at !== null) {
      const before = text.slice(0, at).split("\n");
      where = `第 ${before.length} 行第 ${before.at(-1).length + 1} 列附近`;
    }
    throw new FormErrors(where ? { 位置: where } : {}, `JSON 格式错误${where ? "：" + where : ""}，请检查括号、引号和逗号`);
  }
}

/** An alert listing the fields; `name(key)` turns an API field key into its Chinese label. */
export function problemBox(err, name = (k) => k) {
  const fields = Object.entries(err?.fields || {});
  return h("div", { class: "error", role: "alert" }, chineseMessage(err, "操作失败，请重试"),
    fields.length ? h("ul", {}, fields.map(([k, v]) => h("li", {}, `${name(k)}：${chineseMessage({ message: String(v) }, "取值无效")}`))) : null);
}

/** Label → text lines that differ between two descriptions (Maps of label → text). */
export function diffLines(before, after) {
  const out = [];
  for (const [label, text] of after) {
    if (!before.has(label)) out.push({ label, kind: "新增", text });
    else if (before.get(label) !== text) out.push({ label, kind: "修改", before: before.get(label), text });
  }
  for (const [label, text] of before) if (!after.has(label)) out.push({ label, kind: "删除", before: text });
  return out;
}

export function diffView(lines) {
  if (!lines.length) return h("p", { class: "muted", id: "publish-diff" }, "与当前版本相比没有变化");
  return h("ul", { class: "list", id: "publish-diff" }, lines.map((d) => h("li", { dataset: { kind: d.kind } },
    h("span", { class: `tag ${d.kind === "删除" ? "s-lost" : d.kind === "新增" ? "s-intent" : "s-contacted"}` }, d.kind),
    h("strong", {}, d.label),
    d.before !== undefined ? h("div", { class: "muted" }, "原：", d.before) : null,
    d.text !== undefined ? h("div", {}, "新：", d.text) : null)));
}

/** Minutes as a person says them: 2 小时, 3 天, 90 分钟. */
export const duration = (minutes) => (minutes % 1440 === 0 ? `${minutes / 1440} 天` : minutes % 60 === 0 ? `${minutes / 60} 小时` : `${minutes} 分钟`);

/**
 * editor(el, {
 *   name: "routing",              // /api/config/{name}
 *   doc: {version, document},     // as GET returned it
 *   form(draft, changed) → Node,  // the form; calls changed() after every edit
 *   describe(document) → Map,     // label → text: the diff's vocabulary
 *   check(draft) → {label: msg},  // form mistakes found before sending
 *   fieldName(key) → label,       // the API's field keys in Chinese
 *   preview(draft) → Promise<Node>|null,  // shown with the diff before publishing
 *   canPublish, canRollback, readOnlyNote, reload })
 */
export function editor(el, options) {
  const { name, doc } = options;
  let draft = structuredClone(doc.document);
  const out = h("div", { id: `${name}-result` });
  const body = h("div", { id: `${name}-form` });
  const listeners = [];
  const changed = () => listeners.forEach((fn) => fn(draft));
  let mode = "form";
  const jsonText = h("textarea", { id: `${name}-json`, "aria-label": "配置（JSON）", spellcheck: false });
  const tabForm = h("button", { type: "button", role: "tab", id: `${name}-tab-form`, "aria-selected": "true" }, "表单");
  const tabJson = h("button", { type: "button", role: "tab", id: `${name}-tab-json`, "aria-selected": "false" }, "高级（JSON）");
  const drawForm = () => mount(body, options.form(draft, changed));
  /** The JSON tab's text as the draft (a mistake keeps the JSON tab open and says where). */
  const clean = options.clean || ((d) => d);
  const current = () => {
    if (mode === "json") draft = parseJson(jsonText.value);
    return clean(draft);
  };
  const show = (next) => busy(null, async () => {
    if (next === mode) return;
    if (next === "form") {
      draft = parseJson(jsonText.value);
      mode = "form";
      drawForm();
      changed();
    } else {
      mode = "json";
      jsonText.value = JSON.stringify(clean(draft), null, 2);
      mount(body, h("p", { class: "muted" }, "高级：直接编辑配置的 JSON；切换回“表单”时按此内容重新填写表单。"), jsonText);
    }
    tabForm.setAttribute("aria-selected", String(mode === "form"));
    tabJson.setAttribute("aria-selected", String(mode === "json"));
  }, out);
  tabForm.onclick = () => show("form");
  tabJson.onclick = () => show("json");
  jsonText.addEventListener("input", () => { try { draft = JSON.parse(jsonText.value); changed(); } catch { /* checked on use */ } });

  const named = (err) => problemBox(err, options.fieldName || ((k) => k));
  const checked = () => {
    const value = current();
    const problems = options.check ? options.check(value) : {};
    if (Object.keys(problems).length) throw new FormErrors(problems);
    return value;
  };
  const run = (button, action, slot = out) => button.addEventListener("click", async () => {
    button.disabled = true;
    slot.replaceChildren();
    try { await action(); } catch (err) { slot.replaceChildren(named(err)); } finally { button.disabled = false; }
  });

  const validate = h("button", { type: "button", id: `validate-${name}` }, "校验");
  run(validate, async () => {
    await post(`/config/${name}/validate`, checked());
    out.replaceChildren(h("div", { class: "ok", role: "status" }, "校验通过，可以发布"));
  });
  const publish = h("button", { type: "button", class: "primary", id: `publish-${name}` }, "发布…");
  run(publish, async () => {
    const value = checked();
    await post(`/config/${name}/validate`, value);
    const note = h("input", { id: "publish-note", class: "grow", maxlength: 200, placeholder: "例如：北京信用贷改由华南信贷组承接",
      "aria-label": "发布说明" });
    const confirm = h("button", { type: "button", class: "primary", id: "publish-confirm" }, "确认发布");
    const cancel = h("button", { type: "button", onclick: () => out.replaceChildren() }, "取消");
    const slot = h("div");
    const preview = h("div", { id: "publish-preview" });
    run(confirm, async () => {
      if (!note.value.trim()) throw new FormErrors({ 发布说明: "请填写这次修改的原因" });
      const result = await put(`/config/${name}?note=${encodeURIComponent(note.value.trim())}`, value);
      toast(`已发布第 ${result.version} 版`);
      options.reload();
    }, slot);
    out.replaceChildren(h("section", { class: "card", id: "publish-panel" },
      h("h2", {}, `发布前确认：与当前第 ${doc.version} 版相比`),
      diffView(diffLines(options.describe(doc.document), options.describe(value))), preview,
      h("label", { style: "display:flex" }, "发布说明（必填）", note),
      h("div", { class: "row" }, confirm, cancel), slot));
    if (options.preview) {
      mount(preview, h("p", { class: "loading" }, "正在试运行草稿…"));
      options.preview(value).then((node) => mount(preview, node), (err) => mount(preview, named(err)));
    }
  });
  const versions = h("section", { class: "card", id: `versions-${name}` }, h("h2", {}, "版本记录"), h("p", { class: "loading" }, "加载中…"));
  const drawVersions = () => busy(null, async () => {
    const data = await get(`/config/${name}/versions`);
    mount(versions, h("h2", {}, "版本记录"), data.items.length ? h("div", { class: "scroll-x" }, cardTable(["版本", "发布人", "时间", "说明", ""],
      data.items.map((v) => ({ attrs: { dataset: { version: v.version } }, cells: [`第 ${v.version} 版${v.current ? "（当前）" : ""}`,
        v.author_name || "—", v.created_text, v.note || "—",
        options.canRollback && !v.current ? rollbackButton(v.version) : ""] })))) : h("p", { class: "muted" }, "尚未发布过，当前为系统默认配置"));
  }, versions);
  const rollbackButton = (version) => {
    const button = h("button", { type: "button", dataset: { rollback: version } }, "回滚到此版");
    run(button, async () => {
      if (!window.confirm(`确定回滚到第 ${version} 版？将作为新版本发布。`)) return;
      const result = await post(`/config/${name}/rollback`, { version });
      toast(`已回滚：第 ${result.version} 版（内容同第 ${version} 版）`);
      options.reload();
    });
    return button;
  };

  drawForm();
  drawVersions();
  return {
    node: [
      h("p", { class: "muted" }, `当前第 ${doc.version} 版。`, options.readOnlyNote || ""),
      h("div", { class: "tabs", role: "tablist" }, tabForm, tabJson),
      body,
      options.canPublish === false ? null : h("div", { class: "row" }, validate, publish),
      out, versions,
    ],
    onChange(fn) { listeners.push(fn); },
    draft: () => clean(draft),
  };
}
