"""Whole BYOL training steps: byol-train --bench beside bench_byol_torch.py.

Usage: step_bench.py --build DIR --threads N [--runs R] [--steps S] [--python PY]
                     [--encoder NAME]... > steps.jsonl

For every encoder of shapes.json (or each --encoder NAME), runs byol and
PyTorch alternately, R times each (byol, torch, byol, torch, ...), so a drift
in the machine's load hits both alike; then one `byol-train --bench --profile`
of as many steps. Steps per run: the encoder's "steps" in shapes.json, or
--steps. Prints every result as a JSON line with "encoder" and "run" added
(kind "step" for the timed runs, "profile" for the per-layer lines and the
profiled run's own "bench" line), and progress on standard error.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = os.path.join(HERE, "shapes.json")


def byol_args(build, enc, steps, threads, profile):
    """byol-train --bench for one shapes.json encoder entry."""
    c = enc["channels"]
    heads = json.dumps({"hidden": enc["hidden"], "out": enc["out"]})
    sets = {
        "threads": threads, "model.encoder": enc["model"], "model.width": enc["width"],
        "model.stem": enc["stem"], "data.channels": c, "data.image_size": enc["size"],
        "data.mean": json.dumps([0.5] * c), "data.std": json.dumps([0.25] * c),
        "train.batch_size": enc["batch"], "model.projector": heads, "model.predictor": heads,
    }
    args = [os.path.join(build, "byol-train"), "--bench", "fmnist-convnet", "--steps", str(steps)]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return args + (["--profile"] if profile else [])


def torch_args(python, enc, steps, threads):
    return [python, os.path.join(HERE, "bench_byol_torch.py"), "--threads", str(threads),
            "--steps", str(steps), "--stem", enc["stem"], enc["model"], str(enc["width"]),
            str(enc["channels"]), str(enc["size"]), str(enc["batch"]), str(enc["hidden"]),
            str(enc["out"])]


def run(args):
    """JSON object lines of a command's output; exits if it fails."""
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"step_bench: {' '.join(args)} failed:\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def emit(record, **extra):
    print(json.dumps({**record, **extra}), flush=True)


def bench_encoder(a, enc):
    steps = a.steps or enc["steps"]
    for r in range(a.runs):
        for impl, args in (("byol", byol_args(a.build, enc, steps, a.threads, False)),
                           ("torch", torch_args(a.python, enc, steps, a.threads))):
            t0 = time.perf_counter()
            (record,) = [x for x in run(args) if x.get("event") == "bench"]
            emit(record, kind="step", impl=impl, encoder=enc["name"], run=r)
            print(f"  {enc['name']}: {impl} run {r + 1}: {record['img_s']} img/s "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    for record in run(byol_args(a.build, enc, steps, a.threads, True)):
        emit(record, kind="profile", impl="byol", encoder=enc["name"])
    print(f"  {enc['name']}: profile ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="steps per run (0: shapes.json's)")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--encoder", action="append", help="only this encoder (repeatable)")
    a = ap.parse_args()
    with open(SHAPES) as f:
        encoders = json.load(f)["encoders"]
    if a.encoder:
        encoders = [e for e in encoders if e["name"] in a.encoder]
    for enc in encoders:
        bench_encoder(a, enc)


if __name__ == "__main__":
    main()
