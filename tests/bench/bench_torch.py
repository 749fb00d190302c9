"""PyTorch side of byol's benchmarks: times the shapes in shapes.json.

Usage: bench_torch.py [--threads N] [--ops] [--encoder NAME] [--min-time SECONDS]
                      [--min-reps N] [--warmup N]

--ops times forward and backward of every op in shapes.json (BatchNorm in
train mode; backward computes input and parameter gradients, which are reset
to None, untimed, before each repetition). --encoder NAME times one encoder's
training step, out = model(x); (out * dy).sum().backward(), in train mode,
after an untimed zero_grad(set_to_none=False); run one process per encoder so
peak RSS is per case. Each repetition timestamps the end of the forward, so
fwd_ms, bwd_ms and total_ms are the medians of the per-repetition forward,
backward and forward+backward times over at least --min-reps (5) repetitions
lasting at least --min-time seconds, after --warmup (2) warm-up iterations.
Prints one JSON line per case.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ref"))

import gen_ops  # noqa: E402
import models  # noqa: E402

SHAPES = os.path.join(HERE, "shapes.json")
WARMUP = 2
MIN_REPS = 5


def measure(step, min_time, min_reps=MIN_REPS, warmup=WARMUP):
    """Run step() -> (fwd, bwd, total) seconds repeatedly; their medians in ms."""
    for _ in range(warmup):
        step()
    samples, start = [], time.perf_counter()
    while len(samples) < min_reps or time.perf_counter() - start < min_time:
        samples.append(step())
    return [1000 * statistics.median(field) for field in zip(*samples)]


def op_dims(spec):
    """gen_ops dims for a shapes.json op entry (booleans to 0/1, BN in train mode)."""
    dims = {k: int(v) for k, v in spec.items() if k not in ("name", "op")}
    if spec["op"] == "batchnorm":
        dims["train"] = 1
        dims["one"] = int(spec["h"] == 1 and spec["w"] == 1)
    return dims


def bench_op(spec, min_time, min_reps, warmup):
    """Median forward, backward and total ms of one op."""
    leaves, buffers, forward = gen_ops.build(spec["op"], op_dims(spec))
    dy = torch.randn_like(forward(leaves))

    def step():
        for tensor in leaves.values():
            tensor.grad = None
        t0 = time.perf_counter()
        y = forward(leaves)
        t1 = time.perf_counter()
        y.backward(dy)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, t2 - t0
    return measure(step, min_time, min_reps, warmup)


def bench_encoder(spec, min_time, min_reps, warmup):
    """Median forward, backward and total ms of one encoder training step."""
    model = models.encoder(spec["model"], spec["width"], spec["stem"], spec["channels"])
    model.train()
    x = torch.randn(spec["batch"], spec["channels"], spec["size"], spec["size"])
    dy = torch.randn(spec["batch"], model.out_channels)

    def step():
        model.zero_grad(set_to_none=False)
        t0 = time.perf_counter()
        out = model(x)
        t1 = time.perf_counter()
        (out * dy).sum().backward()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, t2 - t0
    return measure(step, min_time, min_reps, warmup)


def record(kind, name, timings, threads):
    """One output line in the format shared with byol's benchmark."""
    fwd, bwd, total = timings
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return json.dumps({"impl": "torch", "kind": kind, "name": name,
                       "fwd_ms": round(fwd, 4), "bwd_ms": round(bwd, 4),
                       "total_ms": round(total, 4), "peak_rss_mb": round(peak_rss, 1),
                       "threads": threads})


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--ops", action="store_true", help="benchmark every op")
    parser.add_argument("--encoder", metavar="NAME", help="benchmark one encoder")
    parser.add_argument("--min-time", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--min-reps", type=int, default=MIN_REPS, metavar="N")
    parser.add_argument("--warmup", type=int, default=WARMUP, metavar="N")
    args = parser.parse_args()
    if not args.ops and args.encoder is None:
        parser.error("nothing to do: give --ops and/or --encoder NAME")
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(SHAPES) as f:
        shapes = json.load(f)
    reps, warmup = max(1, args.min_reps), max(0, args.warmup)
    if args.ops:
        for spec in shapes["ops"]:
            timings = bench_op(spec, args.min_time, reps, warmup)
            print(record("op", spec["name"], timings, args.threads), flush=True)
    if args.encoder is not None:
        specs = [s for s in shapes["encoders"] if s["name"] == args.encoder]
        if not specs:
            names = ", ".join(s["name"] for s in shapes["encoders"])
            sys.exit(f"unknown encoder {args.encoder!r}; known: {names}")
        timings = bench_encoder(specs[0], args.min_time, reps, warmup)
        print(record("encoder", args.encoder, timings, args.threads), flush=True)


if __name__ == "__main__":
    main()
