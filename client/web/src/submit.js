// submit.js — a new job: a preset or a spec of one's own, with overrides
// (dotted keys); byold's validation error is shown at the field it names.

import { RpcError } from "./rpc.js";
import { el } from "./util.js";

export function submitPage(main, ctx) {
  const preset = el("select", { id: "preset", "aria-describedby": "preset-error" },
    el("option", { value: "" }, "(a spec of my own, below)"));
  const presetError = el("p", { id: "preset-error", class: "error field-error" });
  const spec = el("textarea", { id: "spec", rows: 10, spellcheck: "false", "aria-describedby": "spec-error",
    placeholder: '{"name": "mine", "data": {...}, "train": {"epochs": 10}}' });
  const specError = el("p", { id: "spec-error", class: "error field-error" });
  const specBox = el("div", { class: "field", hidden: true }, el("label", { for: "spec" }, "Spec (JSON)"), spec, specError);
  const rows = el("div", { class: "overrides" });
  const paused = el("input", { id: "paused", type: "checkbox" });
  const status = el("p", { class: "error", role: "alert" });
  const presets = el("ul", { class: "muted presets" });
  let n = 0;

  function addRow(key = "", value = "") {
    const id = `o${n++}`;
    const k = el("input", { id: `${id}-key`, class: "key", value: key, placeholder: "train.epochs", "aria-label": "key", spellcheck: "false" });
    const v = el("input", { id: `${id}-value`, class: "value", value, placeholder: "20", "aria-label": `value of ${key || "the key"}`, spellcheck: "false" });
    const error = el("p", { class: "error field-error", id: `${id}-error` });
    k.setAttribute("aria-describedby", error.id);
    v.setAttribute("aria-describedby", error.id);
    const row = el("div", { class: "override" }, k, el("span", {}, "="), v,
      el("button", { type: "button", class: "small", "aria-label": "remove this override", onclick: () => row.remove() }, "×"), error);
    rows.append(row);
    return row;
  }

  function clearErrors() {
    for (const e of main.querySelectorAll(".field-error")) e.textContent = "";
    for (const i of main.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
    status.textContent = "";
  }

  function showError(field, reason) {
    const row = [...rows.querySelectorAll(".override")].find((r) => r.querySelector(".key").value.trim() === field);
    const at = row ? [row.querySelector(".value"), row.querySelector(".field-error")]
      : field === "preset" ? [preset, presetError]
      : !preset.value ? [spec, specError] : null;
    if (!at) return (status.textContent = `${field}: ${reason}`);
    at[0].setAttribute("aria-invalid", "true");
    at[1].textContent = `${field}: ${reason}`;
    at[0].focus();
  }

  async function submit(ev) {
    ev.preventDefault();
    clearErrors();
    const params = {};
    if (preset.value) params.preset = preset.value;
    else {
      try {
        params.spec = JSON.parse(spec.value);
      } catch (e) {
        return showError("spec", `not JSON: ${e.message}`);
      }
    }
    const set = {};
    for (const r of rows.querySelectorAll(".override")) {
      const key = r.querySelector(".key").value.trim();
      const text = r.querySelector(".value").value.trim();
      if (!key || !text) continue; // an empty row, or a key not filled in yet
      let value;
      try {
        value = JSON.parse(text);
      } catch {
        value = text; // a bare word is a string
      }
      set[key] = value;
    }
    if (Object.keys(set).length) params.set = set;
    if (paused.checked) params.paused = true;
    try {
      const { job_id } = await ctx.rpc.call("job.submit", params);
      ctx.go(`#/job/${job_id}`);
    } catch (e) {
      if (e instanceof RpcError && e.data && e.data.field) showError(e.data.field, e.data.reason);
      else status.textContent = `Not submitted: ${e.message}`;
    }
  }

  preset.addEventListener("change", () => (specBox.hidden = preset.value !== ""));
  main.append(el("h1", {}, "Submit a job"),
    el("form", { class: "submit card", onsubmit: submit, novalidate: true },
      el("div", { class: "field" }, el("label", { for: "preset" }, "Preset"), preset, presetError), specBox,
      el("fieldset", {}, el("legend", {}, "Overrides"), rows,
        el("button", { type: "button", class: "small", onclick: () => addRow().querySelector(".key").focus() }, "Add an override")),
      el("div", { class: "field inline" }, paused, el("label", { for: "paused" }, "Submit paused")),
      status, el("button", { type: "submit" }, "Submit")),
    el("h2", {}, "Presets"), presets);
  addRow("name", "").querySelector(".value").placeholder = "a name for the job";
  ctx.rpc.call("preset.list").then(({ presets: list }) => {
    for (const p of list) preset.append(el("option", { value: p.name }, p.name));
    preset.value = list.length ? list[0].name : "";
    specBox.hidden = preset.value !== "";
    presets.replaceChildren(...list.map((p) => el("li", {}, el("strong", {}, p.name), ` — ${p.description}`)));
  }).catch((e) => (status.textContent = `Could not list the presets: ${e.message}`));
  return {};
}
