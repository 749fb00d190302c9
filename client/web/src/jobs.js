// jobs.js — the jobs page: every job with its progress and results, filtered
// by state, name and top-1, refreshed every two seconds; pick some to compare.

import { jobActions } from "./actions.js";
import { el, fixed, percent, progress, STATES, when } from "./util.js";

const METRICS = ["top1", "top5", "knn_top1", "final_loss"];

// The jobs that "key=value" and "metric>=x" terms select, as history.query does
// for byolctl history; null when there are no terms.
async function matching(rpc, text) {
  const spec = {}, metric = {};
  for (const term of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^([\w.]+)(>=|<=|!=|>|<|=)(.*)$/.exec(term);
    if (!m) throw new Error(`"${term}" is not KEY=VALUE or METRIC>=NUMBER`);
    const [, key, op, raw] = m;
    if (METRICS.includes(key)) (metric[key] = metric[key] || {})[op === "=" ? "==" : op] = Number(raw);
    else if (op === "=") {
      try { spec[key] = JSON.parse(raw); } catch { spec[key] = raw; }
    } else throw new Error(`${key}: spec keys take =, metrics (${METRICS.join(", ")}) compare`);
  }
  if (!Object.keys(spec).length && !Object.keys(metric).length) return null;
  const { runs } = await rpc.call("history.query", { spec, metric, limit: 10000 });
  return new Set(runs.map((r) => r.job_id));
}

export function jobsPage(main, ctx, params) {
  const state = el("select", { id: "f-state", "aria-label": "state" },
    el("option", { value: "" }, "any state"), ...STATES.map((s) => el("option", { value: s }, s)));
  state.value = params.get("state") || "";
  const name = el("input", { id: "f-name", type: "search", placeholder: "name", "aria-label": "name", value: params.get("name") || "" });
  const top1 = el("input", { id: "f-top1", type: "number", min: 0, max: 100, step: "any", placeholder: "top-1 ≥", "aria-label": "minimum top-1", value: params.get("top1") || "" });
  const terms = el("input", { id: "f-terms", type: "search", placeholder: "model.encoder=convnet knn_top1>=70", "aria-label": "filters as byolctl history takes them", value: params.get("q") || "" });
  const compare = el("button", { type: "button", disabled: true, onclick: () => ctx.go(`#/compare?jobs=${[...picked].join(",")}`) }, "Compare selected");
  const status = el("p", { class: "error", role: "alert" });
  const body = el("tbody");
  const picked = new Set();
  const table = el("table", { class: "jobs" },
    el("thead", {}, el("tr", {}, ...["", "ID", "Name", "State", "Progress", "Epoch", "Loss", "img/s", "Top-1", "kNN", "Created", ""]
      .map((h) => el("th", { scope: "col" }, h)))), body);
  main.append(el("h1", {}, "Jobs"),
    el("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); refresh(); } },
      state, name, top1, terms, el("button", { type: "submit" }, "Filter"), compare),
    status, el("div", { class: "scroll" }, table));
  for (const input of [state, name, top1, terms]) input.addEventListener("change", () => refresh());

  function row(job) {
    const p = progress(job);
    const pick = el("input", { type: "checkbox", "aria-label": `select job ${job.job_id}`, checked: picked.has(job.job_id) });
    pick.addEventListener("change", () => {
      if (pick.checked) picked.add(job.job_id);
      else picked.delete(job.job_id);
      compare.disabled = picked.size < 2;
    });
    return el("tr", { "data-job": job.job_id },
      el("td", {}, pick),
      el("td", {}, el("a", { href: `#/job/${job.job_id}` }, `#${job.job_id}`)),
      el("td", {}, el("a", { href: `#/job/${job.job_id}` }, job.name)),
      el("td", {}, el("span", { class: `state ${job.state}` }, job.state)),
      el("td", {}, el("div", { class: "progress", title: p.text },
        el("div", { class: "bar", style: { width: `${(100 * p.share).toFixed(1)}%` } }), el("span", {}, p.text))),
      el("td", { class: "num" }, typeof job.last_epoch === "number" ? job.last_epoch + 1 : "–"),
      el("td", { class: "num" }, fixed(job.last_loss, 4)),
      el("td", { class: "num" }, fixed(job.last_img_s, 0)),
      el("td", { class: "num" }, percent(job.top1)),
      el("td", { class: "num" }, percent(job.knn_top1)),
      el("td", {}, when(job.created)),
      el("td", { class: "actions" }, jobActions(ctx.rpc, job, () => refresh(), (m) => (status.textContent = m))));
  }

  // A row is built again only when its job changed: a checkbox being clicked is not
  // replaced under the pointer.
  const rows = new Map();
  function cachedRow(job) {
    const key = JSON.stringify(job);
    const old = rows.get(job.job_id);
    if (old && old.key === key) return old.tr;
    const tr = row(job);
    rows.set(job.job_id, { key, tr });
    return tr;
  }

  let timer = null, destroyed = false;
  async function refresh() {
    clearTimeout(timer);
    if (destroyed) return; // (a refresh awaited while the page was left)
    const query = new URLSearchParams();
    if (state.value) query.set("state", state.value);
    if (name.value) query.set("name", name.value);
    if (top1.value) query.set("top1", top1.value);
    if (terms.value.trim()) query.set("q", terms.value.trim());
    const hash = `#/jobs${query.toString() ? "?" + query : ""}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    try {
      const params = { limit: 500 };
      if (state.value) params.state = state.value;
      if (name.value) params.name = name.value;
      let { jobs } = await ctx.rpc.call("job.list", params);
      const wanted = await matching(ctx.rpc, terms.value);
      if (destroyed) return;
      if (wanted) jobs = jobs.filter((j) => wanted.has(j.job_id));
      const min = parseFloat(top1.value);
      if (isFinite(min)) jobs = jobs.filter((j) => typeof j.top1 === "number" && j.top1 >= min);
      body.replaceChildren(...(jobs.length ? jobs.map(cachedRow)
        : [el("tr", {}, el("td", { colspan: 12, class: "muted" }, "No jobs. Submit one on the Submit page."))]));
      status.textContent = "";
    } catch (e) {
      status.textContent = `Could not list the jobs: ${e.message}`;
    }
    if (!destroyed) timer = setTimeout(refresh, 2000);
  }
  refresh();
  return { destroy: () => { destroyed = true; clearTimeout(timer); } };
}
