#!/bin/sh
# The layout's rules, checked: includes point one way (server -> jobs -> engine ->
# byol -> nn, data; only jobs and server reach the store; MPI (dist) only from
# byol-train's main, and it sees only nn's replica seam; the dashboard (web) only
# from byold's main, and it sees only server's rpc.h; everything may use
# common/), include paths are qualified by folder, and no source file passes
# 800 lines. Run from the source tree (make test does).
status=0

# forbid DIR PREFIX...: no file of daemon/DIR includes "PREFIX/...".
forbid() {
	dir=$1
	shift
	for p in "$@"; do
		for f in $(grep -l "#include \"$p/" daemon/"$dir"/*.[ch] 2>/dev/null); do
			echo "$f: daemon/$dir must not include $p/ (dependencies point one way)"
			status=1
		done
	done
}
forbid nn byol data engine jobs store server dist
forbid data nn byol engine jobs store server dist
forbid byol engine jobs store server dist
forbid engine jobs store server dist
forbid store jobs server engine byol nn data dist
forbid jobs server dist
forbid server dist
forbid dist byol data engine jobs store server
# the dashboard reaches byold only through its socket (and the token check of rpc.h)
forbid web nn byol data engine jobs store dist
forbid nn web
forbid data web
forbid byol web
forbid engine web
forbid jobs web
forbid store web
forbid server web
forbid dist web

# Headers of daemon/ are named by their folder: "nn/net.h", never "net.h".
for h in daemon/*/*.h; do
	name=$(basename "$h")
	for f in $(grep -rl "#include \"$name\"" common daemon client tests --include='*.[ch]'); do
		echo "$f: include \"$(basename "$(dirname "$h")")/$name\", not \"$name\""
		status=1
	done
done

for f in $(find common daemon client tests -name '*.[ch]' -o -name '*.py' -o -name '*.sh'); do
	n=$(wc -l < "$f")
	if [ "$n" -gt 800 ]; then
		echo "$f: $n lines, over 800: split it"
		status=1
	fi
done
[ $status -eq 0 ] && echo "layout: dependencies one way, includes qualified, files under 800 lines"
exit $status
