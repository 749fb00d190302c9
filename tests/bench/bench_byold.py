#!/usr/bin/python3
"""Training speed through byold beside byol-train on the same spec.

Runs the same job alternately as a byold job (submitted over its Unix socket)
and as `byol-train --jsonl`, RUNS times each, and prints each run's median
img/s over its step points (the first two left out as warm-up) and the ratio of
the medians (byold / byol-train; the aim is >= 0.97). Interleaving keeps a
shared, noisy machine from favouring either side.

usage: bench_byold.py [--runs N] [--epochs N]     (BUILD selects the build dir)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from byold_harness import BYOLD, Daemon, wait_done  # noqa: E402

BUILD = os.path.dirname(BYOLD)
SPEC = {"data.limit": 8192, "eval_data.limit": 256, "train.log_every": 4, "optim.warmup_epochs": 0,
        "checkpoint.every_steps": 100000, "checkpoint.every_seconds": 0,
        "eval.every_epochs": 0, "eval.linear.epochs": 0, "threads": 0}


def median_after_warmup(img_s):
    return statistics.median(img_s[2:])


def via_byold(client, spec):
    job_id = client.result("job.submit", {"preset": "fmnist-convnet", "set": spec})["job_id"]
    job = wait_done(client, job_id, timeout=3600, poll=0.5)
    assert job["state"] == "completed", job
    points = client.result("job.metrics", {"job_id": job_id})["points"]
    return median_after_warmup([p["img_s"] for p in points])


def via_byol_train(spec, out):
    args = [os.path.join(BUILD, "byol-train"), "fmnist-convnet", "--jsonl", "--out", out]
    for k, v in spec.items():
        args += ["--set", f"{k}={json.dumps(v)}"]
    run = subprocess.run(args, capture_output=True, text=True, check=True)
    events = (json.loads(line) for line in run.stdout.splitlines() if line.startswith("{"))
    return median_after_warmup([e["img_s"] for e in events if e["event"] == "step"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    spec = {**SPEC, "train.epochs": a.epochs}
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(os.path.join(tmp, "var"), tcp=False)
        try:
            client = daemon.unix(timeout=3600)
            daemon_runs, train_runs = [], []
            for i in range(a.runs):
                daemon_runs.append(via_byold(client, spec))
                train_runs.append(via_byol_train(spec, os.path.join(tmp, f"run{i}")))
            daemon.stop()
        finally:
            daemon.close()
    ratio = statistics.median(daemon_runs) / statistics.median(train_runs)
    fmt = " ".join
    print(f"fmnist-convnet, {a.epochs} epoch(s) of 8192 images, {a.runs} interleaved runs each")
    print(f"  byold      img/s: {fmt(f'{x:.1f}' for x in daemon_runs)}")
    print(f"  byol-train img/s: {fmt(f'{x:.1f}' for x in train_runs)}")
    print(f"  ratio of medians (byold / byol-train): {ratio:.3f}")


if __name__ == "__main__":
    main()
