#!/bin/sh
# make fuzz (run.sh BIN...): run each libFuzzer target for FUZZ_SECONDS on its
# committed corpus (tests/fuzz/corpus/<target>, read only) plus a working
# corpus, $BUILD/fuzz/corpus/<target>, that keeps what it finds; with
# tests/fuzz/<target>.dict when there is one. Crash inputs land in
# $BUILD/fuzz/crash/. Prints executions per target; exits non-zero when any
# target found a crash, a leak or a timeout.
#
# make fuzz-merge (run.sh --merge BIN...): add to each committed corpus the
# working corpus's inputs that reach new edges (libFuzzer's -merge=1 on edges
# only, inputs cut to MERGE_MAX_LEN bytes), which keeps the corpora small.
set -u
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
MERGE_MAX_LEN=${MERGE_MAX_LEN:-4096}

# fuzz BIN: 0 if it ran its time without finding anything.
fuzz() {
	t=$(basename "$1")
	log=$BUILD/fuzz/$t.log
	dict=tests/fuzz/$t.dict
	[ -f "$dict" ] && dict="-dict=$dict" || dict=""
	mkdir -p "$BUILD/fuzz/corpus/$t" "$BUILD/fuzz/crash"
	echo "fuzz $t for ${FUZZ_SECONDS}s (log: $log)"
	# $dict is unquoted on purpose: empty means no argument.
	# shellcheck disable=SC2086
	if ! "$1" -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$BUILD/fuzz/crash/$t-" $dict \
		"$BUILD/fuzz/corpus/$t" "tests/fuzz/corpus/$t" > "$log" 2>&1; then
		echo "FAIL $t — end of its log follows"
		tail -n 60 "$log"
		return 1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	echo "PASS $t: $runs executions, $rate/s"
}

# merge BIN: the working corpus's new-edge inputs into the committed one.
merge() {
	t=$(basename "$1")
	log=$BUILD/fuzz/$t-merge.log
	mkdir -p "$BUILD/fuzz/corpus/$t"
	if ! "$1" -merge=1 -use_counters=0 -use_cmp=0 -max_len="$MERGE_MAX_LEN" \
		"tests/fuzz/corpus/$t" "$BUILD/fuzz/corpus/$t" > "$log" 2>&1; then
		echo "merge $t failed; see $log"
		return 1
	fi
	echo "merge $t: $(grep -o '[0-9]* new files.*' "$log")"
}

action=fuzz
if [ "${1:-}" = --merge ]; then
	action=merge
	shift
fi
failed=""
for bin in "$@"; do
	$action "$bin" || failed="$failed $(basename "$bin")"
done
[ -z "$failed" ] || { echo "$action failures:$failed"; exit 1; }
