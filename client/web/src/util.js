// util.js — DOM building (text only: nothing from byold is parsed as HTML),
// number formats and curve smoothing.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "style") Object.assign(node.style, v); // (CSSOM: the CSP forbids style attributes)
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function fixed(v, digits) {
  return typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–";
}

export function percent(v) {
  return typeof v === "number" && v >= 0 ? `${v.toFixed(2)}%` : "–";
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

export function bytes(n) {
  if (typeof n !== "number") return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// A job's progress: "step 30/32" and its share.
export function progress(job) {
  const total = job.total_steps || 0;
  const share = total ? Math.min(1, (job.step || 0) / total) : 0;
  return { share, text: total ? `${job.step || 0}/${total}` : `${job.step || 0}` };
}

// Exponential moving average, debiased as TensorBoard's smoothing is, so the
// first points are not pulled towards zero.
export function smooth(values, weight) {
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !isFinite(v)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

// The leaves of a nested object as {"a.b": value}.
export function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = JSON.stringify(v);
  }
  return out;
}

export const STATES = ["queued", "running", "paused", "completed", "failed", "cancelled", "interrupted"];
