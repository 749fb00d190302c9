// main.js — the dashboard: log in, then one page at a time by the URL's hash
// (#/jobs, #/job/ID, #/compare?jobs=1,2, #/submit).

import "./style.css";
import { comparePage } from "./compare.js";
import { jobPage } from "./job.js";
import { jobsPage } from "./jobs.js";
import { Rpc } from "./rpc.js";
import { submitPage } from "./submit.js";
import { el } from "./util.js";

const app = document.getElementById("app");
let page = null;

async function boot() {
  const r = await fetch("/api/session", { credentials: "same-origin" });
  if (r.status === 200) start((await r.json()).csrf);
  else showLogin("");
}

function showLogin(message) {
  const token = el("input", {
    id: "token", type: "password", name: "token", autocomplete: "current-password",
    required: true, "aria-describedby": "login-error",
  });
  const error = el("p", { id: "login-error", class: "error", role: "alert" }, message);
  const form = el("form", { class: "login card", onsubmit: (ev) => login(ev, token, error) },
    el("h1", {}, "byol"),
    el("p", { class: "muted" }, "Log in with byold's token (the file token in its state directory)."),
    el("label", { for: "token" }, "Token"), token, error,
    el("button", { type: "submit" }, "Log in"));
  app.replaceChildren(form);
  token.focus();
}

async function login(ev, token, error) {
  ev.preventDefault();
  const r = await fetch("/api/login", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: token.value.trim() }),
  });
  const body = await r.json().catch(() => ({}));
  if (r.status === 200) return start(body.csrf);
  if (r.status === 429) {
    const wait = r.headers.get("Retry-After");
    error.textContent = `Too many failed logins: try again in ${wait || "a few"} s.`;
  } else error.textContent = body.error === "wrong token" ? "Wrong token." : body.error || `HTTP ${r.status}`;
  token.select();
}

function start(csrf) {
  const banner = el("div", { class: "banner", role: "status", hidden: true },
    "Connection to byold lost; reconnecting…");
  const rpc = new Rpc(csrf, (state) => (banner.hidden = state === "up"));
  const main = el("main", { id: "main", tabindex: "-1" });
  const links = [["#/jobs", "Jobs"], ["#/compare", "Compare"], ["#/submit", "Submit"]]
    .map(([href, text]) => el("a", { href }, text));
  const nav = el("nav", { "aria-label": "pages" }, el("a", { href: "#/jobs", class: "brand" }, "byol"),
    ...links, el("button", { class: "link", onclick: () => logout(csrf) }, "Log out"));
  app.replaceChildren(el("header", {}, nav), banner, main);
  const ctx = { rpc, go: (hash) => (location.hash = hash) };
  const route = () => {
    if (page && page.destroy) page.destroy();
    main.replaceChildren();
    const [path, query] = location.hash.replace(/^#/, "").split("?");
    const parts = path.split("/").filter(Boolean);
    const params = new URLSearchParams(query || "");
    for (const a of links) a.toggleAttribute("aria-current", a.getAttribute("href") === `#/${parts[0] || "jobs"}`);
    if (parts[0] === "job" && /^\d+$/.test(parts[1] || "")) page = jobPage(main, ctx, Number(parts[1]));
    else if (parts[0] === "compare") page = comparePage(main, ctx, params.get("jobs") || "");
    else if (parts[0] === "submit") page = submitPage(main, ctx);
    else page = jobsPage(main, ctx, params);
  };
  window.addEventListener("hashchange", route);
  route();
}

async function logout(csrf) {
  await fetch("/api/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
  location.hash = "";
  location.reload();
}

boot();
