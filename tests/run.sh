#!/bin/sh
# Run each test binary given, report each outcome, and close with the totals.
# Exits non-zero when any test binary fails.
passed=0
failed=0
failures=""
for t in "$@"; do
	name=$(basename "$t")
	start=$(date +%s)
	if "$t" > "$BUILD/tests/$name.log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS $name ($(( $(date +%s) - start ))s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "FAIL $name — output follows"
		cat "$BUILD/tests/$name.log"
	fi
done
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
