#!/usr/bin/env bats
# A drain that moves running workloads off a real Docker node: each is
# stopped there (its container removed from the Engine) and placed again on
# another node; draining the other node brings them back, started as real
# containers. The Engine manages iptables, so the file runs in a network
# namespace of its own (tests/e2e/in-netns, as ctest runs it).
load helper
load docker
bats_require_minimum_version 1.5.0

setup_file() {
	start_dockerd "$BATS_FILE_TMPDIR/d"
	load_busybox_image
}

teardown_file() { stop_dockerd; }

setup() {
	start_idyld "" --node-ttl 6
	S=$(new_subnet)
	SIM_PIDS=
	SIM_N=0
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node
	idyl node join --subnet "$S" --runtime-profile docker --name n1 \
		--runtime-endpoint "unix://$DOCKER_SOCK" --start >/dev/null
	wait_until 15 node_ready n1
}

teardown() {
	stop_sims
	idyl node stop >/dev/null 2>&1 || true
	stop_idyld
	for id in $(docker_api GET '/containers/json?all=1' | jq -r '.[].Id'); do
		docker_api DELETE "/containers/$id?force=1" >/dev/null
	done
	for n in $(idyl_networks); do docker_api DELETE "/networks/$n" >/dev/null; done
}

node_ready() {
	[ "$(idyl node get "$1" --subnet "$S" -o json | jq -r .status)" = ready ]
}

on_node() { # NAME NODE: running there
	[ "$(idyl workload get "$1" --subnet "$S" -o json | jq -r '[.status.phase, .status.node] | join(" ")')" = "running $2" ]
}

containers_running() { # NAME N
	[ "$(workload_containers "$1" | jq '[.[] | select(.State == "running")] | length')" = "$2" ]
}

containers_gone() { # NAME
	[ "$(workload_containers "$1" | jq length)" = 0 ]
}

@test "drain a Docker node: its containers stop and the workloads run on another node, and back" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix h
	idyl node eligibility h-0 --subnet "$S" --disable >/dev/null
	for w in a b c; do
		idyl deploy idyl/busybox:latest --name $w --subnet "$S" -- sleep 3600 >/dev/null
	done
	for w in a b c; do wait_until 30 on_node $w n1; done
	for w in a b c; do containers_running $w 1; done
	idyl node eligibility h-0 --subnet "$S" --enable >/dev/null

	run --separate-stderr idyl node drain n1 --subnet "$S" --deadline 60s
	[ "$status" -eq 0 ]
	[ "$output" = 'node "n1" drained' ]
	for w in a b c; do on_node $w h-0; done
	# the agent stopped them and removed their containers
	for w in a b c; do wait_until 20 containers_gone $w; done
	run idyl node get --subnet "$S"
	[[ "${lines[2]}" =~ ^n1\ +ready,ineligible\ +admitted\ +docker ]]
	# the provider sees it on the machine too
	run idyl node status
	[[ "$output" == *"reachable (node ready, admitted, ineligible)"* ]]

	# back: drain the hollow node, n1 takes work again
	idyl node eligibility n1 --subnet "$S" --enable >/dev/null
	run idyl node drain h-0 --subnet "$S" --deadline 60s
	[ "$status" -eq 0 ]
	for w in a b c; do on_node $w n1; done
	for w in a b c; do containers_running $w 1; done
	run idyl workload events a --subnet "$S" -o json
	[ "$(echo "$output" | jq -r '[.[].type | select(. == "Migrated")] | length')" = 2 ]
}
