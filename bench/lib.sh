# shellcheck shell=bash
# What bench/swarm.sh and bench/containerd.sh share: the workload they
# deploy, a node joined and waited for, and the timed deploy and delete of N
# workloads (idyld comes from build.sh). Sourced after `cd` to the
# repository's top; it sets n, conc, image and cmd from the script's first
# argument and CONCURRENCY, and puts IDYL_BUILD on PATH.

n=${1:-40}
conc=${CONCURRENCY:-8}
# shellcheck source=build.sh
. bench/build.sh idyld idyl
PATH=$BUILD:$PATH
image=idyl/busybox:latest
cmd='trap "exit 0" TERM; while :; do sleep 1; done'

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# join_node NODE_DIR SUBNET JOIN-OPTION...: joins node "bench" to SUBNET
# with its agent started, and waits until it is ready.
join_node() {
	local dir=$1 subnet=$2
	shift 2
	IDYL_NODE_DIR=$dir idyl node join --subnet "$subnet" --name bench --start "$@" >/dev/null
	for _ in $(seq 200); do
		[ "$(idyl node get bench --subnet "$subnet" -o json | jq -r .status)" = ready ] && break
		sleep 0.1
	done
}

# deploy_all SUBNET / delete_all SUBNET: bench-1 .. bench-N, conc at a time.
deploy_all() {
	seq "$n" | xargs -P "$conc" -I{} idyl deploy "$image" --name "bench-{}" --subnet "$1" \
		--cpu 10m --memory 16Mi -- sh -c "$cmd" >/dev/null
}
delete_all() {
	seq "$n" | xargs -P "$conc" -I{} idyl workload delete "bench-{}" --subnet "$1" >/dev/null
}
