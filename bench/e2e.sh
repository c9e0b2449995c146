#!/usr/bin/env bash
# End-to-end benchmark: a temporary idyld, 1,000 hollow nodes (idyl-sim) of
# mixed runtime profiles in four subnets with different runtime policies, and
# 5,000 workloads deployed through the real API by build/e2e-bench, which
# prints deploys per second, deploy latency percentiles and admitted-to-running
# per second. Everything runs on this machine and is removed afterwards.
#   usage: bench/e2e.sh            (NODES, WORKLOADS, CONCURRENCY override;
#                                   IDYL_STORE=postgres://... runs idyld on
#                                   PostgreSQL, e.g. under tests/with-postgres)
set -euo pipefail

# shellcheck source=build.sh
. "$(dirname "$0")/build.sh" idyld idyl idyl-sim e2e-bench
NODES=${NODES:-1000}
WORKLOADS=${WORKLOADS:-5000}
CONCURRENCY=${CONCURRENCY:-32}

tmp=$(mktemp -d)
sim_pids=()
cleanup() {
	for p in "${sim_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${sim_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	stop_idyld
	rm -rf "$tmp"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)" # a long-poll per node on both sides

store=()
[ -z "${IDYL_STORE:-}" ] || store=(--store "$IDYL_STORE")
start_idyld "$tmp" "${store[@]}"

subnet() {
	"$BUILD/idyl" subnet create --region bench "$@" -o json | jq -r .slug
}
plain=$(subnet)
vm=$(subnet --allowed-isolation-class microvm --default-isolation-class microvm)
mixed=$(subnet --allowed-isolation-class container,microvm)
fc=$(subnet --allowed-isolation-class microvm --default-isolation-class microvm \
	--allowed-vmm-backend firecracker)

# subnet profile per-mille-of-NODES
groups=(
	"$plain docker 250" "$plain containerd-runc 150"
	"$vm containerd-kata-qemu 200" "$vm containerd-kata-firecracker 100"
	"$mixed containerd-runc 100" "$mixed containerd-kata-firecracker 100"
	"$fc containerd-kata-firecracker 100"
)
start=$(date +%s.%N)
n=0
for g in "${groups[@]}"; do
	read -r s profile share <<<"$g"
	count=$((NODES * share / 1000))
	[ "$count" -gt 0 ] || continue
	n=$((n + 1))
	"$BUILD/idyl-sim" nodes --subnet "$s" --count "$count" --runtime-profile "$profile" \
		--name-prefix "sim-$n" >"$tmp/sim.$n.out" 2>>"$tmp/sim.err" &
	sim_pids+=($!)
done
for i in $(seq "$n"); do
	until grep -q ' nodes joined subnet ' "$tmp/sim.$i.out"; do
		if ! kill -0 "${sim_pids[$((i - 1))]}" 2>/dev/null; then
			cat "$tmp/sim.err" >&2
			exit 1
		fi
		sleep 0.1
	done
done
joined=$(date +%s.%N)
total=0
for s in "$plain" "$vm" "$mixed" "$fc"; do
	total=$((total + $("$BUILD/idyl" node get --subnet "$s" -o json | jq '[.[] | select(.status == "ready")] | length')))
done
printf 'nodes:               %d hollow nodes joined and ready in %.2f s\n' "$total" \
	"$(echo "$joined - $start" | bc)"

# Workloads in proportion to the compatible nodes of each target.
"$BUILD/e2e-bench" --workloads "$WORKLOADS" --concurrency "$CONCURRENCY" \
	"$plain:container:400" "$vm:microvm:300" "$mixed:container:100" "$mixed:microvm:100" \
	"$fc:microvm:100"
