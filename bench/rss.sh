#!/usr/bin/env bash
# idyld's memory with many workloads stored. `sched-bench fill` writes
# SUBNETS subnets of NODES nodes each and WORKLOADS workloads in all
# (default 1,000,000, every one running on a node) into a temporary data
# directory; idyld starts on it. The script prints idyld's resident memory
# (VmRSS) and its peak (VmHWM) after start-up, after the scheduler's first
# pass over every subnet, after every subnet's node list and first page of
# workloads, and after one subnet's whole workload list in one answer. It
# asserts nothing. Everything is removed afterwards.
#   usage: bench/rss.sh        (WORKLOADS, SUBNETS, NODES override)
set -euo pipefail

# shellcheck source=build.sh
. "$(dirname "$0")/build.sh" idyld sched-bench
WORKLOADS=${WORKLOADS:-1000000}
SUBNETS=${SUBNETS:-10}
NODES=${NODES:-100}

tmp=$(mktemp -d)
cleanup() {
	stop_idyld
	rm -rf "$tmp"
}
trap cleanup EXIT

kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$idyld_pid/status"; }
report() { printf '%-44s RSS %7d KiB, peak %7d KiB\n' "$1" "$(kib VmRSS)" "$(kib VmHWM)"; }
get() { curl -sf -o "$tmp/body" -H "Authorization: Bearer $IDYL_TOKEN" "$IDYL_ADDR$1"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

t0=$(date +%s.%N)
"$BUILD/sched-bench" fill "$tmp/idyld" "$SUBNETS" "$NODES" $((WORKLOADS / SUBNETS))
printf 'stored %d workloads on %d nodes in %d subnets in %s s; database %s\n' \
	$((WORKLOADS / SUBNETS * SUBNETS)) $((NODES * SUBNETS)) "$SUBNETS" "$(since "$t0")" \
	"$(du -h "$tmp/idyld/idyl.db" | cut -f1)"

# nodes stay healthy for an hour: nothing is lost while idyld looks
start_idyld "$tmp" --node-ttl 3600
report "started"
get /v1/subnets
mapfile -t slugs < <(jq -r '.[].slug' "$tmp/body")
sleep 2 # the scheduler passes over every subnet at start
report "after the first scheduling passes"
for s in "${slugs[@]}"; do
	get "/v1/subnets/$s/nodes"
	get "/v1/subnets/$s/workloads?limit=500"
done
report "after node lists and a page per subnet"
t0=$(date +%s.%N)
get "/v1/subnets/${slugs[0]}/workloads"
printf 'one subnet whole: %d workloads, %s bytes, %s s\n' "$(jq length "$tmp/body")" \
	"$(stat -c %s "$tmp/body")" "$(since "$t0")"
report "after one subnet's whole list"
