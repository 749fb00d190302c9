#!/bin/sh
# make bench: byol's compute core and PyTorch on the same shapes, same thread
# count, in one run; byol and PyTorch alternate case by case so drift in the
# machine's load hits both alike. Each encoder runs in its own process so the
# peak RSS is that encoder's.
set -eu
BUILD=${BUILD:-build}
THREADS=${THREADS:-$(nproc)}
PYTHON=${PYTHON:-/usr/bin/python3}
MIN_TIME=${MIN_TIME:-2}
out=$BUILD/bench
mkdir -p "$out"
: > "$out/byol.jsonl"
: > "$out/torch.jsonl"
"$BUILD/bench/bench_nn" --threads "$THREADS" --ops --min-time 0.5 >> "$out/byol.jsonl"
"$PYTHON" tests/bench/bench_torch.py --threads "$THREADS" --ops --min-time 0.5 >> "$out/torch.jsonl"
"$PYTHON" -c 'import json; [print(e["name"]) for e in json.load(open("tests/bench/shapes.json"))["encoders"]]' |
while read -r name; do
	"$BUILD/bench/bench_nn" --threads "$THREADS" --encoder "$name" --min-time "$MIN_TIME" >> "$out/byol.jsonl"
	"$PYTHON" tests/bench/bench_torch.py --threads "$THREADS" --encoder "$name" --min-time "$MIN_TIME" >> "$out/torch.jsonl"
done
"$PYTHON" tests/bench/report.py "$out/byol.jsonl" "$out/torch.jsonl"
