// chart.js — a line chart (uPlot) that fits its box, takes points live and
// redraws at most a few times a second.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { el } from "./util.js";

export const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
  "#4b5563", "#db2777"];

// Ticks of the step axis: whole numbers only.
const STEP_INCRS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].map((p) => m * p))
  .sort((a, b) => a - b);

// As many decimals as the tick spacing needs (0.9905, not 0.99 four times).
function tickLabels(u, splits, axis, space, incr) {
  const step = String(+incr.toPrecision(3));
  const digits = step.includes("e") ? 8 : (step.split(".")[1] || "").length;
  return splits.map((v) => (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-4) ? v.toExponential(1) : v.toFixed(digits)));
}

// The y axis as wide as its longest label.
function labelWidth(u, values) {
  const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 4;
  return Math.ceil(longest * 7.2 + 18);
}

export class Chart {
  // series: [{label, color, width, faint}]; xLabel names the x axis.
  constructor(parent, { title, series, xLabel = "step", logY = false }) {
    this.box = el("figure", { class: "chart" }, el("figcaption", {}, title));
    this.plotBox = el("div", { class: "plot", role: "img", "aria-label": `${title} chart` });
    this.box.append(this.plotBox);
    parent.append(this.box);
    this.series = series;
    this.data = [[], ...series.map(() => [])];
    const opts = {
      width: 400,
      height: 220,
      scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
      axes: [{ label: xLabel, size: 40, incrs: STEP_INCRS }, { size: labelWidth, values: tickLabels }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: xLabel },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color || COLORS[i % COLORS.length],
          width: s.width || 1.5,
          alpha: s.faint ? 0.35 : 1,
          spanGaps: true,
          points: { show: false },
        })),
      ],
    };
    this.plot = new uPlot(opts, this.data, this.plotBox);
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.plotBox);
    this.timer = null;
  }

  fit() {
    const w = Math.max(200, this.plotBox.clientWidth);
    this.plot.setSize({ width: w, height: Math.max(160, Math.min(260, w * 0.55)) });
  }

  // Replace every point: xs and one array per series.
  set(xs, ys) {
    this.data = [xs, ...ys];
    this.redraw();
  }

  redraw() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.plot.setData(this.data);
      this.box.dataset.points = this.data[0].length; // (what the browser tests watch)
    }, 200);
  }

  points() {
    return this.data[0].length;
  }

  destroy() {
    clearTimeout(this.timer);
    this.resize.disconnect();
    this.plot.destroy();
  }
}

// Several (xs, ys) curves on one x axis (uPlot wants one shared x).
export function joinCurves(curves) {
  return uPlot.join(curves.map((c) => [c.xs, c.ys]));
}
