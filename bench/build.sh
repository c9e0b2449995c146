# shellcheck shell=bash
# The build a benchmark runs, sourced with the binaries it needs as
# arguments (`. bench/build.sh idyld idyl`): sets BUILD (IDYL_BUILD, by
# default the repository's build/), keeps the CLI from the user's config
# file, and stops the benchmark when one of those binaries is missing.
BUILD=${IDYL_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}
export IDYL_CONFIG=/dev/null

bench_require() {
	local b
	for b in "$@"; do
		[ -x "$BUILD/$b" ] || { echo "$(basename "$0"): $BUILD/$b missing: build first" >&2; exit 1; }
	done
}
bench_require "$@"
