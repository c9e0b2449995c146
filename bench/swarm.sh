#!/usr/bin/env bash
# IDYL next to Docker Swarm on one Docker Engine: N workloads (default 40)
# of the same local image (a shell that exits on SIGTERM), created
# CONCURRENCY (default 8) at a time, first through Swarm, then through IDYL,
# each from a clean Engine. Prints, for both, the time from the first create
# to all running and from the first delete to all containers gone, and the
# ratio IDYL/Swarm. Swarm's tasks run on a swarm-scoped bridge network, as
# IDYL's workloads get a network per subnet.
#
#   tests/e2e/in-netns bench/swarm.sh [N]
#       (CONCURRENCY, IDYL_BUILD, SWARM_NETWORK=0, IDYL_NODE_WORKERS,
#        BENCH_LOGS=DIR to keep the agent's, idyld's and dockerd's logs)
#
# The Engine manages iptables: run it in a network namespace of its own
# (tests/e2e/in-netns), as the e2e tests do.
#
# It starts its own dockerd (private data root, socket and address pool,
# iptables on) and its own idyld in a temporary directory, and stops both by
# PID. Benchmarks print figures; they assert nothing.
set -eu
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. bench/lib.sh

tmp=$(mktemp -d /tmp/idyl-swarm.XXXXXX)
sock=$tmp/docker.sock
dockerd_pid='' node_dir=$tmp/node
cleanup() {
	IDYL_NODE_DIR=$node_dir idyl node stop >/dev/null 2>&1 || true
	stop_idyld
	if [ -n "$dockerd_pid" ]; then
		docker -H "unix://$sock" swarm leave --force >/dev/null 2>&1 || true
		for id in $(docker -H "unix://$sock" ps -aq 2>/dev/null); do
			docker -H "unix://$sock" rm -f "$id" >/dev/null 2>&1 || true
		done
		kill "$dockerd_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$dockerd_pid" 2>/dev/null || true
	fi
	if [ -n "${BENCH_LOGS:-}" ]; then
		mkdir -p "$BENCH_LOGS"
		cp "$node_dir/agent.log" "$tmp/idyld.log" "$tmp/dockerd.log" "$BENCH_LOGS/" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

dk() { docker -H "unix://$sock" "$@"; }

# A private address pool, so this Engine's networks collide with no other.
pool=10.$((200 + $$ % 50)).0.0/16
dockerd --data-root "$tmp/data" --exec-root "$tmp/exec" --pidfile "$tmp/dockerd.pid" \
	-H "unix://$sock" --default-address-pool "base=$pool,size=24" >"$tmp/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 300); do dk version >/dev/null 2>&1 && break; sleep 0.1; done
dk version >/dev/null || { tail -20 "$tmp/dockerd.log" >&2; exit 1; }
scripts/busybox-image docker "$sock" "$image"

running_containers() { # label filter
	dk ps -q --filter "label=$1" --filter status=running | wc -l
}
all_containers() {
	dk ps -aq --filter "label=$1" | wc -l
}
wait_count() { # what want label
	local what=$1 want=$2 label=$3
	while [ "$("$what" "$label")" -ne "$want" ]; do sleep 0.05; done
}

# ---- Docker Swarm -------------------------------------------------------
dk swarm init --advertise-addr 127.0.0.1 --default-addr-pool "10.$((150 + $$ % 50)).0.0/16" \
	>/dev/null
net=()
if [ "${SWARM_NETWORK:-1}" != 0 ]; then
	dk network create --scope swarm --driver bridge idyl-bench >/dev/null
	net=(--network idyl-bench)
fi
t0=$(now)
seq "$n" | xargs -P "$conc" -I{} docker -H "unix://$sock" service create -d -q \
	--name "bench-{}" --label idyl.bench=1 --container-label idyl.bench=swarm \
	--no-resolve-image --stop-grace-period 10s "${net[@]}" "$image" sh -c "$cmd" >/dev/null
swarm_acc=$(elapsed "$t0" "$(now)")
wait_count running_containers "$n" idyl.bench=swarm
swarm_run=$(elapsed "$t0" "$(now)")
t0=$(now)
seq "$n" | xargs -P "$conc" -I{} docker -H "unix://$sock" service rm "bench-{}" >/dev/null
wait_count all_containers 0 idyl.bench=swarm
swarm_rm=$(elapsed "$t0" "$(now)")
dk swarm leave --force >/dev/null
for _ in $(seq 100); do [ -z "$(dk network ls -q --filter name=idyl-bench)" ] && break; sleep 0.1; done

# ---- IDYL ---------------------------------------------------------------
start_idyld "$tmp"
subnet=$(idyl subnet create --region bench -o json | jq -r .slug)
join_node "$node_dir" "$subnet" --runtime-profile docker --runtime-endpoint "unix://$sock"
label=io.idyl.node=$subnet/bench
t0=$(now)
deploy_all "$subnet"
idyl_acc=$(elapsed "$t0" "$(now)")
wait_count running_containers "$n" "$label"
idyl_run=$(elapsed "$t0" "$(now)")
t0=$(now)
delete_all "$subnet"
wait_count all_containers 0 "$label"
idyl_rm=$(elapsed "$t0" "$(now)")

printf '%-28s %10s %10s %8s\n' "$n workloads, $conc at a time" "Swarm" "IDYL" "ratio"
printf '%-28s %9ss %9ss\n' "all creates answered" "$swarm_acc" "$idyl_acc"
printf '%-28s %9ss %9ss %8s\n' "all running" "$swarm_run" "$idyl_run" \
	"$(awk -v a="$idyl_run" -v b="$swarm_run" 'BEGIN { printf "%.2f", a / b }')"
printf '%-28s %9ss %9ss %8s\n' "all removed after delete" "$swarm_rm" "$idyl_rm" \
	"$(awk -v a="$idyl_rm" -v b="$swarm_rm" 'BEGIN { printf "%.2f", a / b }')"
