// job.js — one job: live curves (the stored history decimated by byold, then
// its events as they happen), evaluations, checkpoints to download, the log's
// tail and the resolved spec.

import { jobActions } from "./actions.js";
import { Chart, COLORS } from "./chart.js";
import { bytes, el, fixed, percent, progress, smooth, when } from "./util.js";

const HISTORY_POINTS = 2000; // what job.metrics returns for the replay
const LIVE_POINTS = 4000;    // past this the live arrays are thinned by half
const SERIES = ["loss", "tau", "lr", "img_s", "z_std"];

export function jobPage(main, ctx, jobId) {
  const head = el("div", { class: "job-head" });
  const status = el("p", { class: "error", role: "alert" });
  const charts = el("section", { class: "charts", "aria-label": "curves" });
  const smoothing = el("input", { id: "smoothing", type: "range", min: 0, max: 0.99, step: 0.01, value: 0.6 });
  const evals = el("tbody"), ckpts = el("tbody"), logs = el("pre", { class: "logs", tabindex: 0 });
  const spec = el("pre", { class: "spec", tabindex: 0 });
  main.append(head, status,
    el("div", { class: "smoothing" }, el("label", { for: "smoothing" }, "Smoothing"), smoothing),
    charts,
    el("h2", {}, "Evaluations"), el("div", { class: "scroll" }, table(["Kind", "State", "Step", "Top-1", "Top-5", "Created"], evals)),
    el("h2", {}, "Checkpoints"), el("div", { class: "scroll" }, table(["Step", "Epoch", "Size", "SHA-256", "Created", ""], ckpts)),
    el("h2", {}, "Log"), logs,
    el("h2", {}, "Spec"), spec);

  const loss = new Chart(charts, { title: "Loss", series: [{ label: "loss", color: COLORS[0], faint: true }, { label: "smoothed", color: COLORS[0], width: 2 }] });
  const small = [["τ", "tau"], ["Learning rate", "lr"], ["Images/s", "img_s"], ["z std", "z_std"]]
    .map(([title, key]) => ({ key, chart: new Chart(charts, { title, series: [{ label: key }] }) }));
  const points = { step: [], ...Object.fromEntries(SERIES.map((k) => [k, []])) };
  let job = null, unsubscribe = null, destroyed = false, lastStep = 0, finalLoss = null;

  function draw() {
    loss.set(points.step, [points.loss, smooth(points.loss, Number(smoothing.value))]);
    for (const { key, chart } of small) chart.set(points.step, [points[key]]);
  }
  smoothing.addEventListener("input", draw);

  function add(p) {
    if (p.step <= lastStep) return;
    lastStep = p.step;
    points.step.push(p.step);
    for (const k of SERIES) points[k].push(p[k] ?? null);
    if (points.step.length > LIVE_POINTS) // keep every other point, and the newest
      for (const k of Object.keys(points)) points[k] = points[k].filter((_, i, a) => i % 2 === 0 || i === a.length - 1);
  }

  function header() {
    const p = progress(job);
    head.replaceChildren(
      el("h1", {}, `${job.name} `, el("span", { class: "muted" }, `#${job.job_id}`)),
      el("div", { class: "summary" },
        el("span", { class: `state ${job.state}` }, job.state),
        el("div", { class: "progress wide", title: p.text },
          el("div", { class: "bar", style: { width: `${(100 * p.share).toFixed(1)}%` } }),
          el("span", {}, `step ${p.text}`)),
        el("span", { title: "the newest step's loss" }, `loss ${fixed(job.last?.loss, 4)}`),
        finalLoss !== null ? el("span", { title: "the mean loss of the last epoch" }, `last epoch ${fixed(finalLoss, 4)}`) : "",
        el("span", {}, `top-1 ${percent(job.top1)}`),
        el("span", {}, `kNN ${percent(job.knn_top1)}`),
        el("span", { class: "actions" }, jobActions(ctx.rpc, job, () => reload(), (m) => (status.textContent = m)))),
      job.error ? el("p", { class: "error" }, job.error) : "");
  }

  const none = (cols, text) => el("tr", {}, el("td", { colspan: cols, class: "muted" }, text));

  function details() {
    if (!(job.evals || []).length) evals.replaceChildren(none(6, "None yet: the linear probe and kNN run when training ends."));
    else evals.replaceChildren(...job.evals.map((e) => el("tr", {},
      el("td", {}, e.kind), el("td", {}, e.state), el("td", { class: "num" }, e.step ?? "–"),
      el("td", { class: "num" }, percent(e.top1)), el("td", { class: "num" }, percent(e.top5)), el("td", {}, when(e.created)))));
    if (!(job.checkpoints || []).length) ckpts.replaceChildren(none(6, "None yet."));
    else ckpts.replaceChildren(...job.checkpoints.map((c) => el("tr", {},
      el("td", { class: "num" }, c.step), el("td", { class: "num" }, c.epoch), el("td", { class: "num" }, bytes(c.bytes)),
      el("td", { class: "hash" }, el("code", {}, c.sha256)), el("td", {}, when(c.created)),
      el("td", {}, el("button", { class: "small", onclick: (ev) => download(ctx.rpc, job, c, ev.target) }, "Download")))));
    spec.textContent = JSON.stringify(job.spec, null, 2);
  }

  async function refreshLogs() {
    const { lines } = await ctx.rpc.call("job.logs", { job_id: jobId, tail: 200 });
    logs.textContent = lines.map((l) => `${when(l.time)}  ${l.level}  ${l.message}`).join("\n") || "(no log lines)";
  }

  async function reload() {
    job = await ctx.rpc.call("job.get", { job_id: jobId });
    if (typeof job.final_loss === "number" && job.state === "completed") finalLoss = job.final_loss;
    header();
    details();
  }

  function onEvent(ev) {
    if (ev.event === "step") {
      add(ev);
      job.step = Math.max(job.step || 0, ev.step);
      job.last = ev;
      draw();
      header();
    } else if (ev.event === "log") refreshLogs().catch(() => {});
    else if (ev.event === "lost") status.textContent = "Live updates stopped: the connection to byold was lost. Reload the page.";
    else if (ev.event !== "epoch") reload().catch(() => {});
  }

  (async () => {
    try {
      await reload();
      const { points: history } = await ctx.rpc.call("job.metrics", { job_id: jobId, max_points: HISTORY_POINTS });
      history.forEach(add);
      draw();
      await refreshLogs();
      if (destroyed) return;
      const end = await ctx.rpc.subscribe(jobId, lastStep, onEvent);
      if (destroyed) end();
      else unsubscribe = end;
    } catch (e) {
      status.textContent = e.code === -32004 ? `There is no job ${jobId}.` : `Could not load job ${jobId}: ${e.message}`;
    }
  })();

  return {
    destroy() {
      destroyed = true;
      if (unsubscribe) unsubscribe();
      loss.destroy();
      for (const { chart } of small) chart.destroy();
    },
  };
}

function table(headers, body) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))), body);
}

// A checkpoint through checkpoint.read, 512 KiB at a time, checked against its SHA-256.
async function download(rpc, job, c, button) {
  const parts = [];
  const label = button.textContent;
  button.disabled = true;
  try {
    for (let offset = 0; offset < c.bytes;) {
      const r = await rpc.call("checkpoint.read", { checkpoint_id: c.checkpoint_id, offset, length: 524288 });
      const raw = Uint8Array.from(atob(r.data), (ch) => ch.charCodeAt(0));
      parts.push(raw);
      offset += raw.length;
      button.textContent = `${Math.floor((100 * offset) / c.bytes)}%`;
      if (!raw.length) throw new Error("the file is shorter than its index says");
    }
    const blob = new Blob(parts, { type: "application/octet-stream" });
    if (crypto.subtle) { // (only in a secure context: loopback or TLS)
      const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
      const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
      if (hex !== c.sha256) throw new Error("the SHA-256 of the download differs");
    }
    const a = el("a", { href: URL.createObjectURL(blob), download: `${job.name}-${job.job_id}-step-${c.step}.safetensors` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) {
    alert(`Download failed: ${e.message}`);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}
