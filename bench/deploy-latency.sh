#!/usr/bin/env bash
# Time from `idyl deploy` to the container running, next to `docker run -d`
# of the same image and command on the same Docker Engine. Needs a running
# IDYL with a docker node (scripts/run). Both are timed from just before the
# command to the Engine's own "start" event (its timeNano), so polling adds
# nothing. Prints median, p90 and max over N runs (default 20).
#   bench/deploy-latency.sh [N]
set -eu
n=${1:-20}
sock=${DOCKER_SOCK:-/var/run/docker.sock}
home=${IDYL_HOME:-$HOME/.idyl}
subnet=$(cat "$home/subnet")
image=idyl/busybox:latest
events=$(mktemp)
trap 'kill $evpid 2>/dev/null; rm -f "$events"' EXIT

filter=$(jq -rn '{type: ["container"], event: ["start"]} | @uri')
curl -sN --unix-socket "$sock" "http://d/events?filters=$filter" >"$events" &
evpid=$!
sleep 0.3

now_ns() { date +%s%N; }
# start_ns NAME: the Engine's start time of the container whose name has NAME
start_ns() {
	for _ in $(seq 500); do
		t=$(jq -r --arg n "$1" 'select(.Actor.Attributes.name | contains($n)) | .timeNano' "$events" | head -1)
		[ -n "$t" ] && { echo "$t"; return; }
		sleep 0.01
	done
	echo "no start event for $1" >&2
	exit 1
}

stats() { # label, then latencies in ms on stdin
	sort -n | awk -v label="$1" '{ a[NR] = $1 } END {
		printf "%-14s n=%d  median %.1f ms  p90 %.1f ms  max %.1f ms\n", label, NR,
		       a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)], a[NR] }'
}

idyl_ms=() docker_ms=()
for i in $(seq "$n"); do
	name=lat-$$-$i
	t0=$(now_ns)
	idyl deploy "$image" --name "$name" --subnet "$subnet" --cpu 10m --memory 16Mi -- sleep 600 >/dev/null
	t1=$(start_ns "idyl-$name-r1")
	idyl_ms+=("$(( (t1 - t0) / 1000 )).0")

	t0=$(now_ns)
	docker -H "unix://$sock" run -d --name "dr-$name" --cpus 0.01 --memory 16m "$image" sleep 600 >/dev/null
	t1=$(start_ns "dr-$name")
	docker_ms+=("$(( (t1 - t0) / 1000 )).0")
done

printf '%s\n' "${idyl_ms[@]}" | awk '{ print $1 / 1000 }' | stats "idyl deploy"
printf '%s\n' "${docker_ms[@]}" | awk '{ print $1 / 1000 }' | stats "docker run -d"

for i in $(seq "$n"); do
	idyl workload delete "lat-$$-$i" --subnet "$subnet" >/dev/null
	docker -H "unix://$sock" rm -f "dr-lat-$$-$i" >/dev/null
done
