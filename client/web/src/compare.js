// compare.js — several jobs side by side: their loss curves overlaid, the spec
// keys on which they differ, their final metrics.

import { Chart, COLORS, joinCurves } from "./chart.js";
import { el, fixed, flatten, percent, smooth } from "./util.js";

export function comparePage(main, ctx, list) {
  const ids = [...new Set(list.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0))];
  const input = el("input", { id: "compare-jobs", value: ids.join(","), placeholder: "job IDs, e.g. 3,4,7", "aria-label": "job IDs" });
  const status = el("p", { class: "error", role: "alert" });
  const curves = el("section", { class: "charts wide", "aria-label": "curves" });
  const finals = el("div", { class: "scroll" }), diff = el("div", { class: "scroll" });
  main.append(el("h1", {}, "Compare"),
    el("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); ctx.go(`#/compare?jobs=${input.value.replace(/\s+/g, "")}`); } },
      input, el("button", { type: "submit" }, "Compare")),
    status, curves, el("h2", {}, "Final metrics"), finals, el("h2", {}, "Spec differences"), diff);
  if (ids.length < 2) {
    status.textContent = ids.length ? "Name at least two jobs." : "Pick jobs on the Jobs page, or name their IDs here.";
    return {};
  }
  let chart = null;
  (async () => {
    try {
      const jobs = await Promise.all(ids.map((id) => ctx.rpc.call("job.get", { job_id: id })));
      const metrics = await Promise.all(ids.map((id) => ctx.rpc.call("job.metrics", { job_id: id, max_points: 1000 })));
      const label = (j) => `#${j.job_id} ${j.name}`;
      chart = new Chart(curves, {
        title: "Loss (smoothed)",
        series: jobs.map((j, i) => ({ label: label(j), color: COLORS[i % COLORS.length], width: 2 })),
      });
      const joined = joinCurves(metrics.map(({ points }) => ({
        xs: points.map((p) => p.step), ys: smooth(points.map((p) => p.loss), 0.9) })));
      chart.set(joined[0], joined.slice(1));
      finals.replaceChildren(el("table", {},
        el("thead", {}, el("tr", {}, ...["Job", "State", "Steps", "Last epoch's loss", "Top-1", "Top-5", "kNN"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...jobs.map((j) => el("tr", {},
          el("td", {}, el("a", { href: `#/job/${j.job_id}` }, label(j))), el("td", {}, el("span", { class: `state ${j.state}` }, j.state)),
          el("td", { class: "num" }, `${j.step}/${j.total_steps}`), el("td", { class: "num" }, fixed(j.final_loss, 4)),
          el("td", { class: "num" }, percent(j.top1)), el("td", { class: "num" }, percent(j.top5)), el("td", { class: "num" }, percent(j.knn_top1)))))));
      const flat = jobs.map((j) => flatten(j.spec));
      const keys = [...new Set(flat.flatMap(Object.keys))].sort()
        .filter((k) => new Set(flat.map((f) => f[k] ?? "(unset)")).size > 1);
      diff.replaceChildren(keys.length ? el("table", { class: "diff" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Key"), ...jobs.map((j) => el("th", { scope: "col" }, label(j))))),
        el("tbody", {}, ...keys.map((k) => el("tr", {}, el("th", { scope: "row" }, el("code", {}, k)),
          ...flat.map((f) => el("td", {}, el("code", {}, f[k] ?? "(unset)")))))))
        : el("p", { class: "muted" }, "The specs are the same."));
    } catch (e) {
      status.textContent = `Could not compare: ${e.message}`;
    }
  })();
  return { destroy: () => chart && chart.destroy() };
}
