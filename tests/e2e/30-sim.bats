#!/usr/bin/env bats
# idyl-sim: hollow nodes join through the node API, report a ready runtime of
# their profile, report placed workloads as running, and stop on SIGTERM —
# after which the control plane declares them down.
load helper

setup() {
	start_idyld "" --node-ttl 2
	S=$(new_subnet --allowed-isolation-class container,microvm)
}

teardown() { end_hollow_test; }

nodes_json() {
	idyl node get --subnet "$S" -o json
}

node_statuses() {
	nodes_json | jq -r '[.[].status] | unique | join(",")'
}

phase_of() {
	idyl workload get "$1" --subnet "$S" -o json | jq -r .status.phase
}

phase_is() {
	[ "$(phase_of "$1")" = "$2" ]
}

@test "hollow nodes join simulated, ready, with their profile's runtime metadata" {
	start_sim --subnet "$S" --count 3 --runtime-profile containerd-kata-firecracker
	[ "$(cat "$SIM_OUT")" = "idyl-sim: 3 nodes joined subnet $S" ]
	run nodes_json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq length)" -eq 3 ]
	[ "$(echo "$output" | jq -r '[.[].name] | sort | join(" ")')" = \
		"sim-containerd-kata-firecracker-0 sim-containerd-kata-firecracker-1 sim-containerd-kata-firecracker-2" ]
	for i in 0 1 2; do
		n=$(echo "$output" | jq -c ".[] | select(.name == \"sim-containerd-kata-firecracker-$i\")")
		[ "$(echo "$n" | jq -r .simulated)" = true ]
		[ "$(echo "$n" | jq -r .status)" = ready ]
		[ "$(echo "$n" | jq -r .admission)" = admitted ]
		[ "$(echo "$n" | jq -r .subnet)" = "$S" ]
		[ "$(echo "$n" | jq -r .runtime.profile)" = containerd-kata-firecracker ]
		[ "$(echo "$n" | jq -r .runtime.provider)" = containerd ]
		[ "$(echo "$n" | jq -r .runtime.handler)" = io.containerd.kata-fc.v2 ]
		[ "$(echo "$n" | jq -r .runtime.isolationClass)" = microvm ]
		[ "$(echo "$n" | jq -r .runtime.vmmBackend)" = firecracker ]
		[ "$(echo "$n" | jq -r .runtime.ready)" = true ]
		[ "$(echo "$n" | jq -c .capacity)" = '{"cpu":4,"memory":"8Gi","gpus":0}' ]
		[ "$(echo "$n" | jq -r .platform)" = linux/amd64 ]
	done
}

@test "each runtime profile reports its isolation class and backend" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu
	run nodes_json
	[ "$(echo "$output" | jq -r '.[] | select(.name == "sim-docker-0") | [.runtime.provider, .runtime.isolationClass, .runtime.vmmBackend] | tostring')" = '["docker","container",null]' ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "sim-containerd-runc-0") | [.runtime.handler, .runtime.isolationClass, .runtime.vmmBackend] | tostring')" = '["io.containerd.runc.v2","container",null]' ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "sim-containerd-kata-qemu-0") | [.runtime.handler, .runtime.isolationClass, .runtime.vmmBackend] | tostring')" = '["io.containerd.kata-qemu.v2","microvm","qemu"]' ]
	[ "$(echo "$output" | jq -r '[.[].simulated] | unique | tostring')" = '[true]' ]
}

@test "--cpu, --memory, --gpus, --platform, --microvm-gpu and --name-prefix reach the node" {
	start_sim --subnet "$S" --count 2 --runtime-profile containerd-kata-qemu --cpu 16 \
		--memory 64Gi --gpus 2 --platform linux/arm64 --microvm-gpu --name-prefix gpu
	run nodes_json
	[ "$(echo "$output" | jq -r '[.[].name] | sort | join(" ")')" = "gpu-0 gpu-1" ]
	[ "$(echo "$output" | jq -c '.[0].capacity')" = '{"cpu":16,"memory":"64Gi","gpus":2}' ]
	[ "$(echo "$output" | jq -r '.[0].platform')" = linux/arm64 ]
	[ "$(echo "$output" | jq -r '.[0].runtime.microvmGPU')" = true ]
}

@test "the table of nodes shows hollow nodes like real ones" {
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu --name-prefix host
	run idyl node get --subnet "$S"
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^host-0 +ready +admitted +containerd-kata-qemu +microvm +qemu '
}

@test "a workload placed on a hollow node is reported running at once" {
	start_sim --subnet "$S" --count 2 --runtime-profile docker
	run idyl deploy nginx:1.27-alpine --name web --subnet "$S" --isolation-class container
	[ "$status" -eq 0 ]
	wait_until 3 phase_is web running
	run idyl workload get web --subnet "$S" -o json
	[[ "$(echo "$output" | jq -r .status.node)" == sim-docker-[01] ]]
	[ "$(echo "$output" | jq -r .status.runtimeProfile)" = docker ]
	[ "$(echo "$output" | jq -r .status.restarts)" = 0 ]
	[ "$(nodes_json | jq -r '[.[].allocated.cpu] | add')" = 0.1 ]
}

@test "a workload placed on a hollow node stays running across heartbeats" {
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-firecracker
	idyl deploy nginx:1.27-alpine --name vm --subnet "$S" --isolation-class microvm >/dev/null
	wait_until 3 phase_is vm running
	sleep 3 # past the node TTL: heartbeats keep the node and the workload
	[ "$(phase_of vm)" = running ]
	[ "$(node_statuses)" = ready ]
}

@test "a thousand hollow nodes run from one single-threaded process" {
	stop_idyld
	start_idyld "$BATS_TEST_TMPDIR/big" # the default node TTL
	S=$(new_subnet)
	start_sim --subnet "$S" --count 1000 --runtime-profile containerd-runc
	[ "$(cat "$SIM_OUT")" = "idyl-sim: 1000 nodes joined subnet $S" ]
	[ "$(ls /proc/"$SIM_PID"/task | wc -l)" -eq 1 ]
	[ "$(nodes_json | jq '[.[] | select(.status == "ready" and .simulated)] | length')" -eq 1000 ]
	for i in $(seq 20); do
		idyl deploy nginx:1.27-alpine --name "w$i" --subnet "$S" >/dev/null
	done
	wait_until 5 eval '[ "$(idyl workload list --subnet "$S" -o json | jq "[.[] | select(.status.phase == \"running\")] | length")" -eq 20 ]'
}

@test "idyl-sim runs in its own process group" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker
	[ "$(ps -o pgid= -p "$SIM_PID" | tr -d ' ')" = "$SIM_PID" ]
}

@test "SIGTERM stops idyl-sim with exit 0 and its nodes go down after --node-ttl" {
	start_sim --subnet "$S" --count 3 --runtime-profile containerd-runc
	idyl deploy nginx:1.27-alpine --name web --subnet "$S" --isolation-class container >/dev/null
	wait_until 3 phase_is web running
	kill -TERM "$SIM_PID"
	rc=0
	wait "$SIM_PID" || rc=$?
	[ "$rc" -eq 0 ]
	SIM_PIDS=
	[ "$(node_statuses)" = ready ] # not before the TTL
	wait_until 6 eval '[ "$(node_statuses)" = down ]'
	wait_until 3 phase_is web lost
	wait_until 3 eval '[ "$(idyl workload get web --subnet "$S" -o json | jq -r .status.message)" = \
		"no available nodes in subnet $S support requested isolation class container" ]'
}

@test "SIGINT stops idyl-sim with exit 0" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker
	kill -INT "$SIM_PID"
	rc=0
	wait "$SIM_PID" || rc=$?
	[ "$rc" -eq 0 ]
	SIM_PIDS=
}

@test "running idyl-sim again with the same names re-joins the same nodes" {
	start_sim --subnet "$S" --count 2 --runtime-profile docker
	stop_sims
	wait_until 6 eval '[ "$(node_statuses)" = down ]'
	start_sim --subnet "$S" --count 2 --runtime-profile docker
	[ "$(nodes_json | jq length)" -eq 2 ]
	[ "$(node_statuses)" = ready ]
}

@test "a subnet that does not exist is an error naming it" {
	run idyl-sim nodes --subnet 100000000999 --count 1 --runtime-profile docker
	[ "$status" -eq 1 ]
	[ "$output" = 'idyl-sim: error: join node "sim-docker-0": subnet "100000000999" not found' ]
}

@test "an invalid credential is an error" {
	IDYL_TOKEN=not-a-token run idyl-sim nodes --subnet "$S" --count 1 --runtime-profile docker
	[ "$status" -eq 1 ]
	[[ "$output" == 'idyl-sim: error: join node "sim-docker-0": '* ]]
}

@test "an unreachable idyld is an error" {
	IDYL_ADDR=http://127.0.0.1:1 run idyl-sim nodes --subnet "$S" --count 1 --runtime-profile docker
	[ "$status" -eq 1 ]
	[[ "${lines[-1]}" == 'idyl-sim: error: join node "sim-docker-0": cannot reach idyld at http://127.0.0.1:1: '* ]]
}

@test "usage errors exit 2 with a message" {
	run idyl-sim nodes --subnet "$S" --runtime-profile docker
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "idyl-sim: error: --count is required" ]

	run idyl-sim nodes --subnet "$S" --count 0 --runtime-profile docker
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'idyl-sim: error: invalid --count "0": want a whole number from 1 to 100000' ]

	run idyl-sim nodes --subnet "$S" --count 1
	[ "$status" -eq 2 ]
	[[ "${lines[0]}" == "idyl-sim: error: --runtime-profile is required"* ]]

	run idyl-sim nodes --subnet "$S" --count 1 --runtime-profile 'containerd-kata-*'
	[ "$status" -eq 2 ]
	[[ "${lines[0]}" == *"docker, containerd-runc, containerd-kata-qemu, containerd-kata-firecracker" ]]

	run idyl-sim nodes --count 1 --runtime-profile docker
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "idyl-sim: error: --subnet is required" ]

	run idyl-sim nodes --subnet "$S" --count 1 --runtime-profile docker --name-prefix Bad_
	[ "$status" -eq 2 ]
	[[ "${lines[0]}" == 'idyl-sim: error: invalid --name-prefix "Bad_"'* ]]

	run idyl-sim nodes --subnet "$S" --count 1 --runtime-profile docker --bogus
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'idyl-sim: error: unknown option "--bogus"' ]

	run idyl-sim frobnicate
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'idyl-sim: error: unknown command "frobnicate"' ]

	run idyl-sim
	[ "$status" -eq 2 ]

	[ "$(nodes_json | jq length)" -eq 0 ] # nothing joined
}

@test "--help describes every option and exits 0" {
	run idyl-sim nodes --help
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "usage: idyl-sim nodes [options]" ]
	for o in --subnet --count --runtime-profile --cpu --memory --gpus --platform \
		--microvm-gpu --name-prefix --addr --token; do
		echo "$output" | grep -q -- "  $o "
	done
}
