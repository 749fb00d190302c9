"""Data-parallel BYOL steps over MPI ranks beside one process, and the scaling
they predict.

Usage: mpi_bench.py --build DIR [--runs R] [--encoder NAME]...

For each encoder of shapes.json: `byol-train --bench` as 1 rank × 2 threads,
2 ranks × 1 thread over shared memory, and 2 ranks × 1 thread with Open MPI's
TCP transport forced, alternately R times; medians of img/s, the ratio to one
process, the bytes all-reduced per step and the time a rank spends in
collectives per step (waiting for the other included).

Then a ring all-reduce cost model of N nodes like this machine, each training
the encoder's batch (a global batch N times larger, as the paper spread 4096
images over its replicas): a node computes the measured 1-process step and
all-reduces the measured gradient bytes, 2(N−1)/N · bytes ÷ bandwidth +
2(N−1) · latency per bucket; the buckets of the step's last backward (a
quarter of its compute: two views' target forwards, online forwards, and two
online backwards of twice the cost) overlap with it, so only the rest is
exposed. Prints the predicted img/s of the N nodes and the efficiency (their
img/s ÷ N × one node's), for nodes like this machine and for nodes 16 times
faster (32 such cores, say), whose shorter steps hide less of the traffic.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import step_bench  # noqa: E402

MPIRUN = ["mpirun", "--allow-run-as-root", "--bind-to", "none", "-np", "2"]
LATENCY_S = 20e-6        # per message step of a ring over Ethernet (order of magnitude)
BUCKET_BYTES = 4 << 20   # the gradient buckets of byol/model.c
OVERLAP = 0.25           # share of a step its last backward takes


def bench(build, enc, threads, transport):
    args = step_bench.byol_args(build, enc, enc["steps"], threads, False)
    env = dict(os.environ)
    if transport:
        args = MPIRUN + args
        env["OMPI_MCA_btl"] = transport
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"mpi_bench: {' '.join(args)} failed:\n{out.stderr}")
    (rec,) = [json.loads(x) for x in out.stdout.splitlines() if '"bench"' in x]
    return rec


def model(step_s, batch, grad_bytes, nodes, gbit):
    bw = gbit * 1e9 / 8
    buckets = max(1, grad_bytes // BUCKET_BYTES)
    comm = 2 * (nodes - 1) / nodes * grad_bytes / bw + 2 * (nodes - 1) * LATENCY_S * buckets
    exposed = max(0.0, comm - OVERLAP * step_s)
    img_s = nodes * batch / (step_s + exposed)
    return img_s, step_s / (step_s + exposed)


def print_model(rows):
    """The scaling table for (encoder, measured step seconds, gradient bytes) rows."""
    print("\nPredicted scaling, each node training the encoder's batch (ring all-reduce, "
          "last backward overlapped): img/s of all nodes (efficiency)")
    print(f"{'encoder':28} | node      | Gbit/s | " +
          " | ".join(f"{n:>2} nodes        " for n in (4, 16, 64)))
    for enc, step_s, grad in rows:
        for speed in (1, 16):
            for gbit in (10, 25, 100):
                cells = [model(step_s / speed, enc["batch"], grad, n, gbit) for n in (4, 16, 64)]
                node = "this one" if speed == 1 else f"{speed}x"
                print(f"{enc['name']:28} | {node:9} | {gbit:6} | " +
                      " | ".join(f"{img:8.1f} ({eff:4.0%})" for img, eff in cells))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--encoder", action="append")
    a = ap.parse_args()
    with open(step_bench.SHAPES) as f:
        encoders = json.load(f)["encoders"]
    if a.encoder:
        encoders = [e for e in encoders if e["name"] in a.encoder]
    kinds = (("1 rank x 2 threads", 2, None), ("2 ranks x 1, shared memory", 1, "self,vader"),
             ("2 ranks x 1, TCP", 1, "tcp,self"))
    rows = []
    print("BYOL step over MPI ranks (byol-train --bench), medians of the alternating runs")
    print(f"{'encoder':28} | {'run':27} | img/s  | ratio | MB reduced/step | collective ms/step")
    for enc in encoders:
        got = {k: [] for k, _, _ in kinds}
        for _ in range(a.runs):
            for name, threads, transport in kinds:
                got[name].append(bench(a.build, enc, threads, transport))
            print(f"  {enc['name']}: {[round(got[k][-1]['img_s'], 1) for k, _, _ in kinds]}",
                  file=sys.stderr, flush=True)
        base = statistics.median(r["img_s"] for r in got[kinds[0][0]])
        for name, _, transport in kinds:
            img = statistics.median(r["img_s"] for r in got[name])
            mb = statistics.median(r.get("allreduce_mb_per_step", 0) for r in got[name])
            ms = statistics.median(r.get("collective_ms_per_step", 0) for r in got[name])
            print(f"{enc['name']:28} | {name:27} | {img:6.1f} | {img / base:5.2f} | "
                  f"{mb:15.1f} | {ms:18.1f}")
        two = got[kinds[1][0]][0]
        rows.append((enc, enc["batch"] / base, two["allreduce_mb_per_step"] * 1e6))
    print_model(rows)


if __name__ == "__main__":
    main()
