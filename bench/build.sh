# shellcheck shell=bash
# The build a benchmark runs, sourced with the binaries it needs as
# arguments (`. bench/build.sh idyld idyl`): sets BUILD (IDYL_BUILD, by
# default the repository's build/), keeps the CLI from the user's config
# file, and stops the benchmark when one of those binaries is missing.
# Also start_idyld and stop_idyld: one temporary idyld, stopped by its PID.
BUILD=${IDYL_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}
export IDYL_CONFIG=/dev/null

bench_require() {
	local b
	for b in "$@"; do
		[ -x "$BUILD/$b" ] || { echo "$(basename "$0"): $BUILD/$b missing: build first" >&2; exit 1; }
	done
}
bench_require "$@"

idyld_pid=''

# start_idyld DIR [IDYLD-OPTION...]: an idyld with its data in DIR/idyld
# (kept across restarts) and its log appended to DIR/idyld.log, listening on
# IDYLD_LISTEN (default 127.0.0.1:0); exports IDYL_ADDR and IDYL_TOKEN and
# sets idyld_pid.
start_idyld() {
	local dir=$1
	shift
	rm -f "$dir/idyld/idyld.addr"
	"$BUILD/idyld" --listen "${IDYLD_LISTEN:-127.0.0.1:0}" --data-dir "$dir/idyld" "$@" \
		>>"$dir/idyld.log" 2>&1 &
	idyld_pid=$!
	for _ in $(seq 200); do [ -s "$dir/idyld/idyld.addr" ] && break; sleep 0.05; done
	IDYL_ADDR=$(cat "$dir/idyld/idyld.addr")
	IDYL_TOKEN=$(cat "$dir/idyld/operator.token")
	export IDYL_ADDR IDYL_TOKEN
}

# stop_idyld: stops the idyld start_idyld started, by its PID; safe to repeat.
stop_idyld() {
	[ -z "$idyld_pid" ] || { kill "$idyld_pid" 2>/dev/null; wait "$idyld_pid" 2>/dev/null || true; }
	idyld_pid=''
}
