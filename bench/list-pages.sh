#!/usr/bin/env bash
# A list of many workloads asked whole and asked in pages: a temporary idyld,
# hollow nodes (idyl-sim) and WORKLOADS workloads (default 10,000) deployed
# through the real API by build/e2e-bench. Then, each on a freshly restarted
# idyld (so its peak RSS, VmHWM, belongs to that one way of asking):
#   whole:  GET .../workloads, one answer;
#   paged:  GET .../workloads?limit=LIMIT (default 500), following continue
#           to the end; also the first page alone (what a client waits for
#           before it can show anything).
# It prints time, bytes and idyld's RSS before and peak after; it asserts
# nothing about timings. Everything is removed afterwards.
#   usage: bench/list-pages.sh   (WORKLOADS, LIMIT, NODES override)
set -euo pipefail

# shellcheck source=build.sh
. "$(dirname "$0")/build.sh" idyld idyl idyl-sim e2e-bench
WORKLOADS=${WORKLOADS:-10000}
LIMIT=${LIMIT:-500}
NODES=${NODES:-20}

tmp=$(mktemp -d)
sim_pid=
cleanup() {
	[ -z "$sim_pid" ] || { kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
	stop_idyld
	rm -rf "$tmp"
}
trap cleanup EXIT

# restart PORT: idyld again on the same port and data; a silent node stays
# healthy for an hour, so nothing changes while the lists are read with the
# hollow nodes gone
restart() {
	stop_idyld
	IDYLD_LISTEN=127.0.0.1:$1 start_idyld "$tmp" --node-ttl 3600
}

rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$idyld_pid/status"; }

# get PATH: prints "seconds bytes" of one GET and leaves the body in $tmp/body
get() {
	curl -s -o "$tmp/body" -w '%{time_total} %{size_download}\n' \
		-H "Authorization: Bearer $IDYL_TOKEN" "$IDYL_ADDR$1"
}

start_idyld "$tmp" --node-ttl 3600
port=${IDYL_ADDR##*:}
subnet=$("$BUILD/idyl" subnet create --region bench -o json | jq -r .slug)
"$BUILD/idyl-sim" nodes --subnet "$subnet" --count "$NODES" --runtime-profile docker \
	--cpu 64 --memory 64Gi >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
until grep -q ' nodes joined subnet ' "$tmp/sim.out"; do
	kill -0 "$sim_pid" 2>/dev/null || { cat "$tmp/sim.err" >&2; exit 1; }
	sleep 0.1
done
echo "deploying $WORKLOADS workloads to $NODES hollow nodes..."
"$BUILD/e2e-bench" --workloads "$WORKLOADS" --concurrency 32 --timeout 1200 \
	"$subnet:container:1" | sed 's/^/  /'
kill -TERM "$sim_pid"
wait "$sim_pid" 2>/dev/null || true
sim_pid=
path=/v1/subnets/$subnet/workloads

restart "$port"
before=$(rss_kib VmRSS)
read -r secs bytes < <(get "$path")
items=$(jq length "$tmp/body")
printf 'whole list:     %d items, 1 answer,  %8.3f s, %10d bytes; idyld RSS %d KiB before, peak %d KiB\n' \
	"$items" "$secs" "$bytes" "$before" "$(rss_kib VmHWM)"

restart "$port"
before=$(rss_kib VmRSS)
token= pages=0 total_s=0 total_b=0 items=0 first_s=
while :; do
	read -r secs bytes < <(get "$path?limit=$LIMIT${token:+&continue=$token}")
	[ -n "$first_s" ] || first_s=$secs
	pages=$((pages + 1))
	total_s=$(echo "$total_s + $secs" | bc -l)
	total_b=$((total_b + bytes))
	items=$((items + $(jq '.items | length' "$tmp/body")))
	token=$(jq -r '.continue // empty' "$tmp/body")
	[ -n "$token" ] || break
done
printf 'limit=%d pages: %d items, %d answers, %8.3f s, %10d bytes; idyld RSS %d KiB before, peak %d KiB\n' \
	"$LIMIT" "$items" "$pages" "$total_s" "$total_b" "$before" "$(rss_kib VmHWM)"
printf 'first page:     %8.3f s, %d bytes per page on average\n' "$first_s" "$((total_b / pages))"
