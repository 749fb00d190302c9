#!/bin/sh
# `make demo`: train the fmnist-quick preset under byold, watched live with
# byolctl, then set its linear probe beside the same encoder left at its random
# initialisation, and show where the checkpoint and the history are.
#
# Uses the byold already serving var/byold.sock, or starts one on var/ (its
# log in var/byold.log) and stops it at the end. The baseline comes from
# `byol-train --eval-only` (a job spec needs at least one epoch), kept in
# var/baseline/ and reused on later runs. BUILD names the build directory.
set -eu

BUILD=${BUILD:-build}
STATE=var
SOCK=$STATE/byold.sock
LOG=$STATE/byold.log
PRESET=fmnist-quick
ctl="$BUILD/byolctl --socket $SOCK"
byold_pid=""

stop_byold() {
	if [ -n "$byold_pid" ] && kill -0 "$byold_pid" 2>/dev/null; then
		echo "demo: stopping the byold it started (pid $byold_pid)"
		kill -TERM "$byold_pid"
		wait "$byold_pid" || true
	fi
	byold_pid=""
}
trap stop_byold EXIT
trap 'exit 130' INT TERM

# Start byold in the background unless one already answers; wait for "listening".
start_byold() {
	mkdir -p "$STATE"
	if $ctl status >/dev/null 2>&1; then
		echo "demo: using the byold already serving $SOCK"
		return
	fi
	touch "$LOG"
	seen=$(wc -c < "$LOG")
	"$BUILD/byold" --state-dir "$STATE" 2>> "$LOG" &
	byold_pid=$!
	for _ in $(seq 300); do
		if tail -c +$((seen + 1)) "$LOG" | grep -q "listening on unix:"; then
			echo "demo: byold (pid $byold_pid) listening on $SOCK; its log is $LOG"
			return
		fi
		kill -0 "$byold_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "demo: byold did not start; see $LOG" >&2
	tail -n 5 "$LOG" >&2
	exit 69
}

# The value of a number field in one line of JSON ("" when absent).
field() {
	printf '%s\n' "$1" | grep -o "\"$2\":[-0-9.eE+]*" | head -n 1 | cut -d: -f2
}

pct() {
	if [ -n "$1" ]; then printf '%.2f%%' "$1"; else printf -- '-'; fi
}

# One line, rewritten in place on a terminal (every 10 s through a pipe): the
# seconds so far and what is done.
progress() {
	secs=$(( $(date +%s) - started ))
	done=""
	grep -q '"kind":"knn"' "$1" 2>/dev/null && done=", kNN done, linear probe training"
	line="demo: probing ... ${secs} s$done"
	if [ -t 1 ]; then printf '\r%s' "$line"
	elif [ $((secs % 10)) -eq 0 ]; then printf '%s\n' "$line"; fi
}

# The random-initialisation baseline: linear probe and kNN of the untrained encoder.
baseline() {
	out=$STATE/baseline
	if ! grep -q '"kind":"linear"' "$out/metrics.jsonl" 2>/dev/null; then
		echo "demo: probing the random initialisation (byol-train $PRESET --eval-only):"
		echo "      the same evaluations on an encoder that was never trained"
		rm -rf "$out"
		started=$(date +%s)
		"$BUILD/byol-train" "$PRESET" --eval-only --out "$out" > "$out.log" 2>&1 &
		probe=$!
		while kill -0 "$probe" 2>/dev/null; do
			progress "$out/metrics.jsonl"
			sleep 1
		done
		wait "$probe" || { echo; cat "$out.log" >&2; exit 1; }
		progress "$out/metrics.jsonl"
		[ -t 1 ] && echo
	fi
	base_linear=$(grep '"kind":"linear"' "$out/metrics.jsonl" | tail -n 1)
	base_knn=$(grep '"kind":"knn"' "$out/metrics.jsonl" | tail -n 1)
}

start_byold
echo "demo: $BUILD/byolctl submit $PRESET --follow"
$ctl submit "$PRESET" --follow
run=$($ctl --json history "name=$PRESET" --limit 1)
job=$(field "$run" job_id)
baseline

echo
printf '%-32s %-24s %s\n' "" "linear top-1 / top-5" "kNN top-1"
printf '%-32s %-24s %s\n' "BYOL, $PRESET (job $job)" \
	"$(pct "$(field "$run" top1)") / $(pct "$(field "$run" top5)")" \
	"$(pct "$(field "$run" knn_top1)")"
printf '%-32s %-24s %s\n' "random initialisation" \
	"$(pct "$(field "$base_linear" top1)") / $(pct "$(field "$base_linear" top5)")" \
	"$(pct "$(field "$base_knn" top1)")"
cat <<EOF

What the numbers mean: both evaluate the encoder frozen, on Fashion-MNIST's
10000 test images, which training never sees. Linear top-1 / top-5: a linear
classifier fitted on the encoder's features of the training images, and how
often its first guess (or one of its first five) is the right class. kNN top-1:
each test image labelled by the vote of its nearest training images in feature
space. The gap between the two rows is what self-supervised pretraining bought;
chance is 10%.
EOF

echo
echo "checkpoints of job $job (files in $STATE/checkpoints/$job/; fetch one with"
echo "  $BUILD/byolctl ckpt get $job --latest -o encoder.safetensors --encoder-only):"
$ctl ckpt ls "$job"
echo
echo "history (SQLite: $STATE/byold.db), $BUILD/byolctl history name=$PRESET:"
$ctl history "name=$PRESET"
stop_byold
