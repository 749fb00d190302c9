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

# Whole BYOL steps (two views, online + target, loss, LARS, EMA): byol-train
# --bench beside the same step in PyTorch (bench_byol_torch.py).
echo
echo "BYOL training step (synthetic views), img/s of source images"
printf '%-30s %12s %12s %8s %10s %10s\n' setting byol torch ratio "byol MB" "torch MB"
STEPS=${STEPS:-5}
step_bench() {
	name=$1 torch_args=$2
	shift 2
	b=$("$BUILD/byol-train" --bench fmnist-convnet --steps "$STEPS" --set threads="$THREADS" "$@")
	t=$("$PYTHON" tests/bench/bench_byol_torch.py --threads "$THREADS" --steps "$STEPS" \
		$torch_args)
	"$PYTHON" - "$name" "$b" "$t" <<'PY'
import json, sys
name, b, t = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{name:30s} {b['img_s']:12.1f} {t['img_s']:12.1f} {b['img_s'] / t['img_s']:8.2f} "
      f"{b['peak_rss_mb']:10.1f} {t['peak_rss_mb']:10.1f}")
PY
}
step_bench "convnet w1 28x28x1 b256" "convnet 1.0 1 28 256 1024 128"
step_bench "resnet18 w0.25 28x28x1 b256" "resnet18 0.25 1 28 256 1024 128" \
	--set model.encoder=resnet18 --set model.width=0.25
step_bench "resnet18 w1 32x32x3 b128" "resnet18 1.0 3 32 128 4096 256" \
	--set model.encoder=resnet18 --set data.channels=3 --set data.image_size=32 \
	--set 'data.mean=[0.5,0.5,0.5]' --set 'data.std=[0.25,0.25,0.25]' \
	--set train.batch_size=128 --set 'model.projector={"hidden":4096,"out":256}' \
	--set 'model.predictor={"hidden":4096,"out":256}'

echo
echo "== training through byold beside byol-train (interleaved runs, median img/s)"
BUILD="$BUILD" "$PYTHON" tests/bench/bench_byold.py --runs 3
