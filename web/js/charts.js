// Charts with Apache ECharts (web/vendor/echarts.min.js, vendored by `make vendor`): loaded only by the
// pages that chart, once, by a script tag (the file is a UMD bundle that sets window.echarts).
// Every chart element carries the `drill` query of its figure: a click opens that lead list.
import { query } from "./api.js";
import { download, h, toast } from "./ui.js";

let loading = null;

export function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  loading ||= new Promise((resolve, reject) => {
    const script = h("script", { src: new URL("../vendor/echarts.min.js", import.meta.url).href, async: true });
    script.addEventListener("load", () => resolve(window.echarts));
    script.addEventListener("error", () => { loading = null; reject(new Error("图表组件加载失败，请刷新重试")); });
    document.head.append(script);
  });
  return loading;
}

/** The lead list of a figure: its drill filters, and a title naming the figure there. */
export function drillHref(drill, title) {
  return `#/leads${query({ ...drill, title })}`;
}

export const PALETTE = ["#1f6feb", "#2da44e", "#d4a72c", "#cf222e", "#8250df", "#0a7f8a", "#bc4c00", "#6e7781"];
const charts = new Set();
let resizing = false;

/**
 * A card with a title, a 导出图片 button and a chart drawn from `option` once ECharts is loaded.
 * Data items with a `drill` (and `title`) open their lead list when clicked.
 */
export function chartCard({ id, title, option, height = 280, extra = null, empty = false }) {
  const box = h("div", { class: "chart", style: `height:${height}px`, "data-chart": id, role: "img", "aria-label": title });
  const save = h("button", { type: "button", class: "link export-chart", "data-export": id, disabled: true }, "导出图片");
  const card = h("section", { class: "card chart-card", id, "aria-label": title },
    h("div", { class: "row" }, h("h2", { class: "grow" }, title), empty ? null : save),
    empty ? h("p", { class: "empty" }, "暂无数据") : box, extra);
  if (empty) return card;
  loadECharts().then((echarts) => {
    // Drawn after the card is in the page (its width is known); a page left meanwhile draws nothing.
    requestAnimationFrame(() => {
      if (!box.isConnected) return;
      const chart = echarts.init(box, null, { renderer: "canvas" });
      chart.setOption({ color: PALETTE, animation: false, textStyle: { fontFamily: "inherit" }, ...option });
      chart.on("click", (p) => {
        const item = p.data && typeof p.data === "object" ? p.data : null;
        if (item?.drill) location.hash = drillHref(item.drill, item.title || `${title} ${p.name}`);
      });
      box.dataset.ready = "1";
      charts.add(chart);
      save.disabled = false;
      save.addEventListener("click", () => {
        const url = chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
        download(url, `${title}.png`);
        toast(`已导出「${title}」图片`);
      });
      if (!resizing) {
        resizing = true;
        window.addEventListener("resize", () => {
          for (const c of [...charts]) {
            if (c.isDisposed() || !c.getDom().isConnected) { if (!c.isDisposed()) c.dispose(); charts.delete(c); } else c.resize();
          }
        });
      }
    });
  }).catch((err) => box.replaceChildren(h("p", { class: "error", role: "alert" }, err.message)));
  return card;
}

/** Axis labels that fit a phone: long names cut with an ellipsis (the tooltip has the full name). */
export function shortLabel(width = 6) {
  return (value) => (String(value).length > width ? String(value).slice(0, width - 1) + "…" : String(value));
}
