#!/bin/sh
# The data pipeline's figures (make bench runs this last): decode + augment
# images/s of the training loader (bench_data) with 1 and 2 loader threads for
# Fashion-MNIST (the fmnist presets' augmentations) and a JPEG image folder at
# 96 and 224 px output (the default, paper's, augmentations), with and without
# libjpeg's DCT-domain scaling; then the share of step time resnet18 training
# on that folder spends waiting for its next batch (the epoch events'
# data_wait_share). The JPEGs, ImageNet-like (about 500x375, smooth gradients,
# soft blobs and pixel noise, quality 90), are written to a temporary folder.
set -eu
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
MIN_TIME=${MIN_TIME:-3}
IMAGES=${IMAGES:-320}
FMNIST=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d /tmp/byol-bench-data-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

"$PYTHON" - "$tmp/jpeg" "$IMAGES" <<'PY'
import os, sys
import numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
sizes = [(500, 375), (375, 500), (500, 333), (480, 360), (500, 400), (450, 338)]
for i in range(n):
    w, h = sizes[i % len(sizes)]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        a, b, p, q = rng.uniform(-1, 1, 4)
        img[..., c] = 0.5 + 0.3 * (a * x / w + b * y / h) + 0.08 * np.sin(x / (9 + 20 * abs(q)) + p)
    for _ in range(8):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, w / 4)
        img += rng.uniform(-0.3, 0.3, 3).astype(np.float32) * \
            np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / r ** 2)[..., None]
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    d = os.path.join(out, f"class{i % 10}")
    os.makedirs(d, exist_ok=True)
    px = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(px, "RGB").save(os.path.join(d, f"img{i:05d}.jpg"), "JPEG", quality=90)
PY

echo "== data pipeline: decode + augment (loader threads, nothing consuming)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) online cores;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
echo "JPEGs: $IMAGES files of about 500x375, quality 90, $(du -sk "$tmp/jpeg" | cut -f1) KiB"
printf '%-34s %8s %6s %10s %16s\n' case threads dct img/s "img/s per thread"
JPEG_SETS="--set data.format=imagefolder --set data.path=$tmp/jpeg --set data.channels=3
	--set data.mean=[0.485,0.456,0.406] --set data.std=[0.229,0.224,0.225]
	--set train.batch_size=32"
row() { # label threads dct args...
	label=$1 threads=$2 dct=$3
	shift 3
	"$BUILD/bench/bench_data" --threads "$threads" --dct "$dct" --min-time "$MIN_TIME" "$@" |
		"$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.read())
dct = "on" if r["dct_scale"] else "off"
print(f"{sys.argv[1]:34s} {r['"'"'threads'"'"']:8d} {dct:>6s} {r['"'"'img_s'"'"']:10.1f} "
      f"{r['"'"'img_s_per_thread'"'"']:16.1f}")' "$label"
}
for t in 1 2; do
	row "fashion-mnist 28 px (fmnist-quick)" $t 1 --preset fmnist-quick --set data.path=$FMNIST
done
for size in 96 224; do
	for dct in 0 1; do
		for t in 1 2; do
			# shellcheck disable=SC2086 # JPEG_SETS is a list of words
			row "jpeg ${size} px (default views)" $t $dct $JPEG_SETS --set data.image_size=$size
		done
	done
done

echo
echo "== data wait: resnet18, 96 px JPEGs, batch 32, 2 compute threads"
out=$tmp/run
echo '{}' > "$tmp/spec.json" # the defaults: the paper's recipe, resnet50 until set
# shellcheck disable=SC2086
"$BUILD/byol-train" "$tmp/spec.json" $JPEG_SETS --set data.image_size=96 --set model.encoder=resnet18 \
	--set threads=2 --set train.epochs=3 --set optim.warmup_epochs=1 --set train.log_every=4 \
	--set eval_data.split=train --set eval_data.limit=32 --set eval.linear.epochs=0 \
	--set eval.every_epochs=0 --set data.limit=320 --set name=data-wait \
	--out "$out" --jsonl 2> "$tmp/stderr" > "$tmp/events" || { cat "$tmp/stderr"; exit 1; }
"$PYTHON" - "$tmp/events" <<'PY'
import json, sys
wait = total = 0
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev["event"] == "epoch":
        wait += ev["data_wait_s"]
        total += ev["seconds"]
        print(f"epoch {ev['epoch']}: {ev['seconds']:.2f} s, waited {ev['data_wait_s']:.3f} s "
              f"for data: data_wait_share {ev['data_wait_share']:.4f}")
print(f"all epochs: data_wait_share {wait / total:.4f} ({wait:.3f} of {total:.2f} s)")
PY
tail -n 1 "$tmp/stderr"
