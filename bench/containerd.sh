#!/usr/bin/env bash
# IDYL on a containerd-runc node: N workloads (default 40) of the same local
# image (a shell that exits on SIGTERM), created CONCURRENCY (default 8) at a
# time, as bench/swarm.sh does on a Docker Engine (containerd has no Swarm to
# compare with). Prints the time from the first deploy to all of them running
# (every workload's phase running) and from the first delete to all their
# sandboxes gone.
#
#   tests/e2e/in-netns bench/containerd.sh [N]     (CONCURRENCY, IDYL_BUILD,
#                                                   IDYL_NODE_WORKERS)
#
# It starts its own containerd (private root, state, socket, CNI directory)
# and its own idyld in a temporary directory, in the network namespace it
# runs in, and stops both by PID. Benchmarks print figures; they assert nothing.
set -eu
cd "$(dirname "$0")/.."
n=${1:-40}
conc=${CONCURRENCY:-8}
build=${IDYL_BUILD:-$PWD/build}
PATH=$build:$PATH
export IDYL_CONFIG=/dev/null
image=idyl/busybox:latest
cmd='trap "exit 0" TERM; while :; do sleep 1; done'
# shellcheck source=../tests/e2e/containerd.bash
. tests/e2e/containerd.bash

tmp=$(mktemp -d /tmp/idyl-ctrd.XXXXXX)
idyld_pid='' node_dir=$tmp/node
cleanup() {
	IDYL_NODE_DIR=$node_dir idyl node stop >/dev/null 2>&1 || true
	[ -z "$idyld_pid" ] || { kill "$idyld_pid" 2>/dev/null; wait "$idyld_pid" 2>/dev/null || true; }
	stop_containerd
	rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

start_containerd "$tmp/c"
load_images

idyld --listen 127.0.0.1:0 --data-dir "$tmp/idyld" >"$tmp/idyld.log" 2>&1 &
idyld_pid=$!
for _ in $(seq 200); do [ -s "$tmp/idyld/idyld.addr" ] && break; sleep 0.05; done
IDYL_ADDR=$(cat "$tmp/idyld/idyld.addr")
IDYL_TOKEN=$(cat "$tmp/idyld/operator.token")
export IDYL_ADDR IDYL_TOKEN
subnet=$(idyl subnet create --region bench -o json | jq -r .slug)
IDYL_NODE_DIR=$node_dir idyl node join --subnet "$subnet" --runtime-profile containerd-runc \
	--name bench --runtime-endpoint "unix://$CONTAINERD_SOCK" --cni-conf-dir "$CNI_CONF_DIR" \
	--start >/dev/null
for _ in $(seq 200); do
	[ "$(idyl node get bench --subnet "$subnet" -o json | jq -r .status)" = ready ] && break
	sleep 0.1
done

running() { idyl workload list --subnet "$subnet" -o json | jq '[.[] | select(.status.phase == "running")] | length'; }
sandboxes() { cctr containers ls -q "labels.\"io.idyl.node\"==$subnet/bench" | wc -l; }

t0=$(now)
seq "$n" | xargs -P "$conc" -I{} idyl deploy "$image" --name "bench-{}" --subnet "$subnet" \
	--cpu 10m --memory 16Mi -- sh -c "$cmd" >/dev/null
while [ "$(running)" -ne "$n" ]; do sleep 0.05; done
run_s=$(elapsed "$t0" "$(now)")
t0=$(now)
seq "$n" | xargs -P "$conc" -I{} idyl workload delete "bench-{}" --subnet "$subnet" >/dev/null
while [ "$(sandboxes)" -ne 0 ]; do sleep 0.05; done
rm_s=$(elapsed "$t0" "$(now)")

printf '%-36s %10s\n' "$n workloads, $conc at a time" "containerd-runc"
printf '%-36s %9ss\n' "all running" "$run_s"
printf '%-36s %9ss\n' "all removed after delete" "$rm_s"
