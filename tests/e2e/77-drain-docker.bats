#!/usr/bin/env bats
# A drain that moves running workloads off a real Docker node: each is
# stopped there (its container removed from the Engine) and placed again on
# another node; draining the other node brings them back, started as real
# containers. The Engine manages iptables, so the file runs in a network
# namespace of its own (tests/e2e/in-netns, as ctest runs it).
load helper
load runtime

setup_file() { start_runtime docker; }
teardown_file() { stop_runtime; }

setup() {
	start_idyld "" --node-ttl 6
	S=$(new_subnet)
	start_node "$S" n1 >/dev/null
}

teardown() {
	stop_sims
	end_runtime_test
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
