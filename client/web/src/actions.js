// actions.js — the buttons that change a job: what its state allows.

import { el } from "./util.js";

const ALLOWED = {
  queued: ["pause", "cancel"],
  running: ["pause", "cancel"],
  paused: ["resume", "cancel"],
};

// Buttons for job (with job_id, state); done(action) after byold answered.
export function jobActions(rpc, job, done, fail) {
  const names = ALLOWED[job.state] || ["delete"];
  return names.map((name) =>
    el("button", {
      class: name === "cancel" || name === "delete" ? "danger small" : "small",
      "aria-label": `${name} job ${job.job_id}`,
      onclick: async (ev) => {
        ev.stopPropagation();
        if (name === "delete" && !confirm(`Delete job ${job.job_id}, its history and checkpoints?`)) return;
        try {
          await rpc.call(`job.${name}`, { job_id: job.job_id });
          done(name);
        } catch (e) {
          fail(`${name} job ${job.job_id}: ${e.message}`);
        }
      },
    }, name[0].toUpperCase() + name.slice(1)));
}
