#!/bin/sh
# make bench: the speed report. In one run, on one thread count: the machine
# (kernel set, large sgemm, memory bandwidth); every op of shapes.json and each
# encoder's forward + backward beside PyTorch; whole BYOL training steps beside
# PyTorch's (interleaved runs, medians) with byol's effective GFLOP/s against
# that sgemm, and a per-layer profile of each (byol-train --bench --profile);
# training through byold beside byol-train; the step over 2 MPI ranks beside one
# process, and the scaling it predicts. byol and PyTorch alternate case by
# case so drift in the machine's load hits both alike, and every encoder runs
# in its own process so each peak RSS is that encoder's.
#
# Knobs: THREADS (default all cores); MIN_TIME, seconds per op and encoder case
# (default 1); STEPS, timed steps per BYOL step run (default: each encoder's
# "steps" in shapes.json); RUNS, step runs per side (default 2); BYOLD_RUNS
# (default 2). Results stay in $BUILD/bench/*.jsonl.
set -eu
BUILD=${BUILD:-build}
THREADS=${THREADS:-$(nproc)}
PYTHON=${PYTHON:-/usr/bin/python3}
MIN_TIME=${MIN_TIME:-1}
STEPS=${STEPS:-0}
RUNS=${RUNS:-2}
BYOLD_RUNS=${BYOLD_RUNS:-2}
out=$BUILD/bench
start=$(date +%s)
mkdir -p "$out"

report() { "$PYTHON" tests/bench/report.py "$@"; }
progress() { echo "bench: $* ($(($(date +%s) - start)) s)" >&2; }

"$BUILD/bench/bench_nn" --threads "$THREADS" --machine > "$out/machine.jsonl"
report machine "$out/machine.jsonl"

# Ops (short cases: 0.5 s each), then encoders (large ones run for seconds
# per repetition: 1 warm-up and 3 repetitions at least).
progress "ops"
"$BUILD/bench/bench_nn" --threads "$THREADS" --ops --min-time 0.5 > "$out/byol.jsonl"
"$PYTHON" tests/bench/bench_torch.py --threads "$THREADS" --ops --min-time 0.5 > "$out/torch.jsonl"
"$PYTHON" -c 'import json; [print(e["name"]) for e in json.load(open("tests/bench/shapes.json"))["encoders"]]' |
while read -r name; do
	progress "encoder $name"
	"$BUILD/bench/bench_nn" --threads "$THREADS" --encoder "$name" --min-time "$MIN_TIME" \
		--min-reps 3 --warmup 1 >> "$out/byol.jsonl"
	"$PYTHON" tests/bench/bench_torch.py --threads "$THREADS" --encoder "$name" \
		--min-time "$MIN_TIME" --min-reps 3 --warmup 1 >> "$out/torch.jsonl"
done
echo
report ops "$out/byol.jsonl" "$out/torch.jsonl"

# Whole BYOL steps, byol and PyTorch interleaved, then a profiled byol run each.
progress "BYOL steps"
"$PYTHON" tests/bench/step_bench.py --build "$BUILD" --threads "$THREADS" --runs "$RUNS" \
	--steps "$STEPS" --python "$PYTHON" > "$out/steps.jsonl"
echo
report steps "$out/machine.jsonl" "$out/steps.jsonl"

progress "byold"
echo
echo "Training through byold beside byol-train (interleaved runs, median img/s)"
BUILD="$BUILD" "$PYTHON" tests/bench/bench_byold.py --runs "$BYOLD_RUNS"

progress "MPI ranks"
echo
"$PYTHON" tests/bench/mpi_bench.py --build "$BUILD" --runs "$RUNS"
echo
echo "make bench: $(($(date +%s) - start)) s"

# The data pipeline: decode + augment rates and the step's data wait.
BUILD="$BUILD" THREADS="$THREADS" PYTHON="$PYTHON" sh tests/bench/data.sh
