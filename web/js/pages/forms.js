// 表单 (admin): the hosted forms (/f/<id>) as the versioned document `forms`: build a form from the
// lead profile (fields, labels, required, consent text and version, channel, campaign, thank-you),
// then share it: links with tracking parameters, the QR code (SVG/PNG), iframe and script snippets.
import { apiUrl, get, put } from "../api.js";
import { busy, h, mount, section, toast } from "../ui.js";

// The profile fields a customer may fill in (chalicelib/rules/forms.py FORM_FIELDS).
const FIELDS = { name: "客户姓名", phone: "联系方式", city: "城市", loan_type: "贷款类型", amount: "贷款金额(万元)",
  purpose: "资金用途", credit_status: "征信情况", customer_type: "客户画像", remark: "备注" };
const KIND = { form: "表单", calc: "贷款计算器" };

export async function render(view) {
  const body = h("div", { id: "forms-body" });
  mount(view, h("h1", {}, "表单"), h("p", { class: "muted" },
    "托管表单无需自建网页：扫码或打开链接即可填写，不开启 JavaScript 也能提交。修改后发布即生效（保留历史版本）。"), body);
  await section(body, () => Promise.all([get("/config/forms"), get("/config/lead-profile")]),
    ([forms, profile]) => builder(forms, profile.document));
}

function builder(doc, profile) {
  const catalog = structuredClone(doc.document);
  const sources = (profile.channel_sources.public || []).map((v) => [v,
    (profile.options.source.find((o) => o.value === v) || {}).label || v]);
  const custom = Object.fromEntries((profile.custom_fields || []).map((f) => [f.key, f.label]));
  const list = h("div");
  const out = h("div");
  const draw = () => mount(list, catalog.forms.map((form, i) => formCard(catalog, form, i, sources, custom, draw)));
  const save = h("button", { type: "button", id: "publish-forms", onclick: () => busy(save, async () => {
    const answer = await put("/config/forms", catalog);
    toast(`已发布表单配置（版本 ${answer.version}）`);
  }, out) }, "发布");
  const add = h("button", { type: "button", id: "add-form", onclick: () => {
    const id = (prompt("新表单的标识（小写字母、数字、- 或 _，如 fair2026）") || "").trim();
    if (!id) return;
    const first = catalog.forms[0] || {};
    catalog.forms.push({ form_id: id, kind: "form", title: "新表单", intro: "",
      fields: [{ name: "name", required: false }, { name: "phone", required: true }],
      consent_text: first.consent_text || "我已阅读并同意《个人信息保护告知书》。", consent_version: first.consent_version || "v1",
      source: "website_form", campaign: null, thank_you_text: "提交成功！我们的顾问将尽快与您联系。", redirect_to: null, active: true });
    draw();
  } }, "新建表单");
  draw();
  return [h("p", { class: "muted" }, `当前版本：${doc.version || "默认"}`), list, h("div", { class: "row" }, add, save), out];
}

function text(form, key, label, attrs = {}) {
  const oninput = (e) => { form[key] = e.target.value.trim() || (attrs.nullable ? null : ""); };
  const input = attrs.multiline
    ? h("textarea", { style: "min-height:80px", "aria-label": label, dataset: { key }, oninput }, form[key] ?? "")
    : h("input", { value: form[key] ?? "", "aria-label": label, dataset: { key }, oninput });
  return h("label", { class: "grow" }, label, input);
}

function formCard(catalog, form, index, sources, custom, draw) {
  const names = { ...FIELDS, ...custom };
  const fieldRows = Object.entries(names).map(([name, fallback]) => {
    const at = () => form.fields.findIndex((f) => f.name === name);
    const current = form.fields[at()];
    const on = h("input", { type: "checkbox", checked: !!current, disabled: name === "phone",
      "aria-label": `使用字段 ${fallback}`, onchange: (e) => {
        if (e.target.checked) form.fields.push({ name, required: false }); else form.fields.splice(at(), 1);
        draw();
      } });
    const row = [h("label", { class: "inline" }, on, fallback)];
    if (current) {
      row.push(h("input", { value: current.label || "", placeholder: fallback, "aria-label": `${fallback} 显示名称`,
        oninput: (e) => { current.label = e.target.value.trim() || null; } }));
      row.push(h("label", { class: "inline" }, h("input", { type: "checkbox", checked: !!current.required,
        disabled: name === "phone", "aria-label": `${fallback} 必填`,
        onchange: (e) => { current.required = e.target.checked; } }), "必填"));
    }
    return h("div", { class: "row", dataset: { field: name } }, row);
  });
  const source = h("label", {}, "渠道（线索来源）", h("select", { "aria-label": "渠道",
    onchange: (e) => { form.source = e.target.value; } },
    sources.map(([v, l]) => h("option", { value: v, selected: v === form.source }, l))));
  const active = h("label", { class: "inline" }, h("input", { type: "checkbox", checked: form.active !== false,
    onchange: (e) => { form.active = e.target.checked; } }), "启用");
  return h("section", { class: "card", dataset: { form: form.form_id } },
    h("h2", {}, `${form.title}（${KIND[form.kind] || form.kind} · ${form.form_id}）`),
    h("div", { class: "row" }, text(form, "title", "标题"), source, active),
    text(form, "intro", "说明文字", { multiline: true }),
    h("h3", {}, "字段"), fieldRows,
    h("h3", {}, "授权与感谢页"),
    text(form, "consent_text", "授权同意文本（个人信息保护告知）", { multiline: true }),
    h("div", { class: "row" }, text(form, "consent_version", "授权文本版本"), text(form, "campaign", "默认活动", { nullable: true })),
    text(form, "thank_you_text", "感谢页文字", { multiline: true }),
    text(form, "redirect_to", "提交后跳转地址（可选；须在允许的跳转来源 REDIRECT_ORIGINS 中，否则进入默认感谢页）", { nullable: true }),
    share(form),
    h("div", { class: "row" }, h("button", { type: "button", onclick: () => { catalog.forms.splice(index, 1); draw(); } },
      "删除此表单（发布后生效）")));
}

/** Links, QR codes and embed snippets for a campaign and channel the admin picks. */
function share(form) {
  // The API serves the forms (`/api/f/<id>` on the stage; the local stack also at `/f/<id>`).
  const base = apiUrl(`/f/${encodeURIComponent(form.form_id)}`);
  const campaign = h("input", { placeholder: "如：2026秋季房展会", "aria-label": "活动（utm_campaign）" });
  const code = h("select", { "aria-label": "渠道代码（c）" }, [["", "（表单默认渠道）"], ["web", "官网"], ["wx", "微信公众号"],
    ["dy", "抖音"], ["zh", "知乎"], ["kf", "在线客服"], ["ev", "线下活动"], ["calc", "贷款计算器"]].map(([v, l]) => h("option", { value: v }, l)));
  const slot = h("div");
  const draw = () => {
    const params = new URLSearchParams();
    if (code.value) params.set("c", code.value);
    if (campaign.value.trim()) { params.set("utm_campaign", campaign.value.trim()); params.set("utm_medium", "qr"); }
    const query = params.toString() ? `?${params}` : "";
    const link = base + query;
    const iframe = `<iframe src="${link}" title="${form.title}" style="width:100%;min-height:680px;border:0" loading="lazy"></iframe>`;
    const script = `<div id="loan-form-${form.form_id}"></div>\n<script>(function(){var f=document.createElement("iframe");` +
      `f.src=${JSON.stringify(link)};f.title=${JSON.stringify(form.title)};f.loading="lazy";` +
      `f.style.cssText="width:100%;min-height:680px;border:0";` +
      `document.getElementById(${JSON.stringify(`loan-form-${form.form_id}`)}).appendChild(f);})();<\/script>`;
    const snippet = (label, value) => h("label", { class: "grow" }, label,
      h("textarea", { readOnly: true, style: "min-height:70px", "aria-label": label }, value));
    mount(slot, h("p", {}, "链接：", h("a", { href: link, target: "_blank", rel: "noopener", class: "form-link" }, link)),
      h("div", { class: "row" }, h("img", { src: `${base}/qr.svg${query}`, alt: `${form.title} 二维码`, width: 160, height: 160,
        class: "form-qr" }),
      h("span", { class: "muted" }, "二维码：", h("a", { href: `${base}/qr.svg${query}`, download: `${form.form_id}.svg` }, "SVG"),
        " · ", h("a", { href: `${base}/qr.png${query}`, download: `${form.form_id}.png` }, "PNG"))),
      snippet("iframe 嵌入代码", iframe), snippet("脚本嵌入代码", script));
  };
  campaign.addEventListener("input", draw);
  code.addEventListener("change", draw);
  draw();
  return h("div", { class: "share" }, h("h3", {}, "分享与嵌入"), h("div", { class: "row" }, campaign, code), slot);
}
