#!/usr/bin/env bats
# idyl deploy --dry-run (admission and the placement it would make, nothing
# written) and idyl workload explain (each filter with the nodes it removed,
# the exhausted resource, a hint), against hollow nodes.
load helper

setup() {
	start_idyld
	S=$(new_subnet --allowed-isolation-class container,microvm --default-isolation-class container)
	start_sim --subnet "$S" --count 5 --cpu 1 --runtime-profile docker
	start_sim --subnet "$S" --count 2 --runtime-profile containerd-kata-qemu --name-prefix kata
}

teardown() { end_hollow_test; }

@test "deploy --dry-run shows the node it would get, and writes nothing" {
	run idyl deploy nginx --name web --subnet "$S" --dry-run -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .name)" = web ]
	[ "$(echo "$output" | jq -r .status.phase)" = scheduled ]
	[[ "$(echo "$output" | jq -r .status.node)" == sim-docker-* ]]
	[ "$(echo "$output" | jq -r .status.isolation.class)" = container ]
	[ "$(echo "$output" | jq -r .status.isolation.source)" = subnet-default ]
	# nothing written: no workload, no events, no node was given work
	[ "$(workload_count "$S")" = 0 ]
	run api GET "/v1/subnets/$S/workloads/web/events"
	[ "${lines[1]}" = 404 ]
	for n in $(idyl node get --subnet "$S" -o json | jq -r '.[].name'); do
		run api GET "/v1/subnets/$S/nodes/$n/assignments"
		[ "$(echo "${lines[0]}" | jq '.workloads | length')" = 0 ]
	done
	# the table names the node too
	run idyl deploy nginx --name web --subnet "$S" --dry-run
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^web\ +nginx\ +container\ +scheduled\ +sim-docker-[0-4] ]]
	# a real deploy afterwards is revision 1, placed
	run idyl deploy nginx --name web --subnet "$S" -o json
	[ "$(echo "$output" | jq -r .revision)" = 1 ]
	wait_workload "$S" web '.status.phase == "running"'
}

@test "deploy --dry-run answers an admission rejection as deploy does (422, exit 1)" {
	run --separate-stderr idyl deploy nginx --name vm --isolation-class gvisor --subnet "$S" --dry-run
	[ "$status" -ne 0 ]
	T=$(new_subnet --allowed-isolation-class microvm)
	run --separate-stderr idyl deploy nginx --name c --subnet "$T" --dry-run
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: isolation.class is required by subnet runtimePolicy" ]
	[ "$(workload_count "$T")" = 0 ]
}

@test "deploy --dry-run that cannot place: pending, with the placement counts" {
	run idyl deploy nginx --name big --cpu 2 --subnet "$S" --dry-run -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .status.phase)" = pending ]
	[ "$(echo "$output" | jq -r .status.node)" = null ]
	[ "$(echo "$output" | jq -c .status.placement)" = \
		'{"nodesEvaluated":7,"outcome":"insufficient_capacity","filtered":{"isolation_class_mismatch":2,"insufficient_cpu":5}}' ]
	[ "$(workload_count "$S")" = 0 ]
}

@test "explain: filters with counts and a few names, the exhausted resource, a hint" {
	idyl deploy nginx --name big --cpu 2 --subnet "$S" >/dev/null
	wait_workload "$S" big '.status.placement != null'
	run idyl workload explain big --subnet "$S" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c '[.filters[] | {code, removed, n: (.nodes | length)}]')" = \
		'[{"code":"isolation_class_mismatch","removed":2,"n":2},{"code":"insufficient_cpu","removed":5,"n":3}]' ]
	[ "$(echo "$output" | jq -c '.filters[0].nodes')" = '["kata-0","kata-1"]' ]
	[ "$(echo "$output" | jq -r .exhausted)" = cpu ]
	[ "$(echo "$output" | jq -r .hint)" = "free CPU (delete workloads or deploy them smaller), join nodes to subnet $S, or ask for less --cpu" ]
	run idyl workload explain big --subnet "$S"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "phase:     pending" ]
	[ "${lines[1]}" = "outcome:   insufficient_capacity (7 nodes evaluated)" ]
	[ "${lines[2]}" = "FILTER                    REMOVED  NODES" ]
	[ "${lines[3]}" = "isolation_class_mismatch  2        kata-0, kata-1" ]
	[ "${lines[4]}" = "insufficient_cpu          5        sim-docker-0, sim-docker-1, sim-docker-2 (+2 more)" ]
	[ "${lines[5]}" = "exhausted: cpu" ]
	# the workload object shows the counts only
	[ "$(idyl workload get big --subnet "$S" -o json | jq -c '.status.placement | keys')" = '["filtered","nodesEvaluated","outcome"]' ]
}

@test "explain: a generic requirement decides the hint; no nodes; placed; approval" {
	idyl deploy nginx --name arm --platform linux/arm64 --subnet "$S" >/dev/null
	wait_workload "$S" arm '.status.placement != null'
	run idyl workload explain arm --subnet "$S" -o json
	[ "$(echo "$output" | jq -r .exhausted)" = null ]
	[ "$(echo "$output" | jq -r .hint)" = "join a node of platform linux/arm64 to subnet $S, or deploy without --platform" ]
	idyl deploy nginx --name vm --isolation-class microvm --cpu 64 --subnet "$S" >/dev/null
	wait_workload "$S" vm '.status.placement != null'
	run idyl workload explain vm --subnet "$S" -o json
	[ "$(echo "$output" | jq -r .exhausted)" = cpu ]
	idyl deploy nginx --name ok --subnet "$S" >/dev/null
	wait_workload "$S" ok '.status.node != null'
	run idyl workload explain ok --subnet "$S" -o json
	node=$(idyl workload get ok --subnet "$S" -o json | jq -r .status.node)
	[ "$(echo "$output" | jq -r .hint)" = "placed on node $node" ]
	[ "$(echo "$output" | jq -r .node)" = "$node" ]
	E=$(new_subnet)
	idyl deploy nginx --name lone --subnet "$E" >/dev/null
	wait_workload "$E" lone '.status.placement != null'
	run idyl workload explain lone --subnet "$E" -o json
	[ "$(echo "$output" | jq -r .hint)" = "subnet $E has no nodes: join one with idyl node join --subnet $E" ]
	A=$(new_subnet --require-deploy-approval)
	idyl deploy nginx --name gated --subnet "$A" >/dev/null
	run idyl workload explain gated --subnet "$A" -o json
	[ "$(echo "$output" | jq -r .hint)" = "an operator must approve it: idyl workload approve gated --subnet $A" ]
	run --separate-stderr idyl workload explain nope --subnet "$A"
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: workload \"nope\" not found in subnet \"$A\"" ]
}

@test "subnet edit --dry-run shows the warnings, kept and rejected workloads, and changes nothing" {
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	idyl deploy nginx --name big --cpu 2 --subnet "$S" >/dev/null
	wait_workload "$S" web '.status.phase == "running"'
	wait_workload "$S" big '.status.placement != null'
	before=$(idyl subnet get "$S" -o json)
	run --separate-stderr idyl subnet edit "$S" --allowed-isolation-class microvm \
		--default-isolation-class microvm --dry-run -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .runtimePolicy.allowedIsolationClasses)" = '["microvm"]' ]
	[ "$stderr" = 'warning: workload big (isolation class container, phase pending) is not allowed by the new runtime policy; it is rejected
warning: workload web (isolation class container, phase running) is not allowed by the new runtime policy; it keeps running' ]
	# nothing changed
	[ "$(idyl subnet get "$S" -o json)" = "$before" ]
	[ "$(idyl workload get big --subnet "$S" -o json | jq -r .status.phase)" = pending ]
	# the real edit does what the dry-run said
	run --separate-stderr idyl subnet edit "$S" --allowed-isolation-class microvm \
		--default-isolation-class microvm
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"workload big (isolation class container, phase pending) is not allowed by the new runtime policy; it is rejected"* ]]
	[ "$(idyl workload get big --subnet "$S" -o json | jq -r .status.phase)" = rejected ]
	[ "$(idyl workload get web --subnet "$S" -o json | jq -r .status.phase)" = running ]
}
