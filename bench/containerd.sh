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
# shellcheck source=lib.sh
. bench/lib.sh
# shellcheck source=../tests/e2e/containerd.bash
. tests/e2e/containerd.bash

tmp=$(mktemp -d /tmp/idyl-ctrd.XXXXXX)
node_dir=$tmp/node
cleanup() {
	IDYL_NODE_DIR=$node_dir idyl node stop >/dev/null 2>&1 || true
	stop_idyld
	stop_containerd
	rm -rf "$tmp"
}
trap cleanup EXIT

start_containerd "$tmp/c"
load_images

start_idyld "$tmp"
subnet=$(idyl subnet create --region bench -o json | jq -r .slug)
join_node "$node_dir" "$subnet" --runtime-profile containerd-runc \
	--runtime-endpoint "unix://$CONTAINERD_SOCK" --cni-conf-dir "$CNI_CONF_DIR"

running() { idyl workload list --subnet "$subnet" -o json | jq '[.[] | select(.status.phase == "running")] | length'; }
sandboxes() { cctr containers ls -q "labels.\"io.idyl.node\"==$subnet/bench" | wc -l; }

t0=$(now)
deploy_all "$subnet"
while [ "$(running)" -ne "$n" ]; do sleep 0.05; done
run_s=$(elapsed "$t0" "$(now)")
t0=$(now)
delete_all "$subnet"
while [ "$(sandboxes)" -ne 0 ]; do sleep 0.05; done
rm_s=$(elapsed "$t0" "$(now)")

printf '%-36s %10s\n' "$n workloads, $conc at a time" "containerd-runc"
printf '%-36s %9ss\n' "all running" "$run_s"
printf '%-36s %9ss\n' "all removed after delete" "$rm_s"
