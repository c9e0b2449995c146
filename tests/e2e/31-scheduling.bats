#!/usr/bin/env bats
# Scheduling as product-docs "Scheduling behavior" and "Troubleshooting" and
# SPEC section 3 describe it, with hollow nodes (idyl-sim) standing in for
# runtimes this machine lacks: exact runtime match, VMM backends from subnet
# policy, the two documented "why pending" messages with their placement
# counts, GPUs in microVMs, node loss and freed capacity.
load helper

setup() {
	start_idyld "" --node-ttl 2
}

teardown() { end_hollow_test; }

wl() {
	idyl workload get "$1" --subnet "$S" -o json
}

field_is() { # NAME JQ-FILTER VALUE
	[ "$(wl "$1" | jq -r "$2")" = "$3" ]
}

phase_is() {
	field_is "$1" .status.phase "$2"
}

message_is() {
	field_is "$1" .status.message "$2"
}

deploy() { # NAME [deploy flags...]
	local name=$1
	shift
	idyl deploy nginx:1.27-alpine --name "$name" --subnet "$S" "$@" >/dev/null
}

no_runtime_msg() {
	echo "no available nodes in subnet $S support requested isolation class $1"
}

no_capacity_msg() {
	echo "no nodes available in subnet $S with sufficient capacity and generic requirements"
}

@test "microvm waits on docker and runc nodes with the documented message and counts, then runs on kata" {
	S=$(new_subnet --allowed-isolation-class container,microvm)
	start_sim --subnet "$S" --count 2 --runtime-profile docker
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc
	deploy vm --isolation-class microvm
	wait_until 3 message_is vm "$(no_runtime_msg microvm)"
	run wl vm
	[ "$(echo "$output" | jq -r .status.phase)" = pending ]
	[ "$(echo "$output" | jq -r .status.node)" = null ]
	[ "$(echo "$output" | jq -c .status.placement)" = \
		'{"nodesEvaluated":3,"outcome":"no_compatible_nodes","filtered":{"isolation_class_mismatch":3}}' ]
	sleep 0.5 # never downgraded while it waits
	phase_is vm pending

	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu
	wait_until 3 phase_is vm running
	run wl vm
	[ "$(echo "$output" | jq -r .status.node)" = sim-containerd-kata-qemu-0 ]
	[ "$(echo "$output" | jq -r .status.runtimeProfile)" = containerd-kata-qemu ]
	[ "$(echo "$output" | jq -r .status.isolation.class)" = microvm ]
}

@test "a subnet default of microvm places on kata-firecracker once it joins" {
	S=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	deploy web
	wait_until 3 message_is web "$(no_runtime_msg microvm)"
	[ "$(wl web | jq -c .status.placement)" = '{"nodesEvaluated":0,"outcome":"no_compatible_nodes","filtered":{}}' ]
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-firecracker
	wait_until 3 phase_is web running
	field_is web .status.runtimeProfile containerd-kata-firecracker
	field_is web .status.isolation.source subnet-default
}

@test "container workloads never land on kata nodes" {
	S=$(new_subnet)
	start_sim --subnet "$S" --count 2 --runtime-profile containerd-kata-qemu
	start_sim --subnet "$S" --count 2 --runtime-profile containerd-kata-firecracker
	for i in 1 2 3 4; do deploy "c$i"; done
	wait_until 3 message_is c4 "$(no_runtime_msg container)"
	for i in 1 2 3 4; do
		phase_is "c$i" pending
		[ "$(wl "c$i" | jq -c .status.placement.filtered)" = '{"isolation_class_mismatch":4}' ]
	done

	start_sim --subnet "$S" --count 1 --runtime-profile docker
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc
	for i in 1 2 3 4; do
		wait_until 3 phase_is "c$i" running
		[[ "$(wl "c$i" | jq -r .status.node)" == @(sim-docker-0|sim-containerd-runc-0) ]]
	done
	[ "$(idyl node get --subnet "$S" -o json |
		jq '[.[] | select(.runtime.isolationClass == "microvm") | .allocated.cpu] | add')" = 0 ]
}

@test "allowedVMMBackends [firecracker] keeps microvm off qemu nodes" {
	S=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm \
		--allowed-vmm-backend firecracker)
	start_sim --subnet "$S" --count 2 --runtime-profile containerd-kata-qemu
	deploy vm
	wait_until 3 message_is vm "$(no_runtime_msg microvm)"
	[ "$(wl vm | jq -c .status.placement)" = \
		'{"nodesEvaluated":2,"outcome":"no_compatible_nodes","filtered":{"vmm_backend_not_allowed":2}}' ]
	phase_is vm pending

	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-firecracker
	wait_until 3 phase_is vm running
	field_is vm .status.node sim-containerd-kata-firecracker-0
}

@test "full compatible nodes give the capacity message; deleting a workload frees room" {
	S=$(new_subnet)
	start_sim --subnet "$S" --count 1 --runtime-profile docker --cpu 1 --memory 1Gi
	deploy a --cpu 0.6
	wait_until 3 phase_is a running
	deploy b --cpu 0.6
	wait_until 3 message_is b "$(no_capacity_msg)"
	run wl b
	[ "$(echo "$output" | jq -r .status.phase)" = pending ]
	[[ "$(echo "$output" | jq -r .status.message)" != *"isolation class"* ]]
	[ "$(echo "$output" | jq -c .status.placement)" = \
		'{"nodesEvaluated":1,"outcome":"insufficient_capacity","filtered":{"insufficient_cpu":1}}' ]
	[ "$(idyl node get --subnet "$S" -o json | jq -c '.[0].allocated')" = '{"cpu":0.6,"memory":"128Mi","gpus":0}' ]

	idyl workload delete a --subnet "$S"
	wait_until 3 phase_is b running
	field_is b .status.node sim-docker-0
	[ "$(idyl node get --subnet "$S" -o json | jq -c '.[0].allocated')" = '{"cpu":0.6,"memory":"128Mi","gpus":0}' ]
}

@test "memory is a capacity too" {
	S=$(new_subnet)
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc --memory 512Mi
	deploy big --memory 1Gi
	wait_until 3 message_is big "$(no_capacity_msg)"
	field_is big .status.placement.filtered.insufficient_memory 1
}

@test "deleting a workload gives its capacity back to the node" {
	S=$(new_subnet)
	start_sim --subnet "$S" --count 1 --runtime-profile docker
	deploy a --cpu 2 --memory 1Gi
	wait_until 3 phase_is a running
	[ "$(idyl node get --subnet "$S" -o json | jq -c '.[0].allocated')" = '{"cpu":2,"memory":"1Gi","gpus":0}' ]
	idyl workload delete a --subnet "$S"
	[ "$(idyl node get --subnet "$S" -o json | jq -c '.[0].allocated')" = '{"cpu":0,"memory":"0","gpus":0}' ]
}

@test "microVM overhead counts against node capacity" {
	S=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu --cpu 1
	deploy big --cpu 0.8 # 0.8 + 250m overhead > 1
	wait_until 3 message_is big "$(no_capacity_msg)"
	field_is big .status.placement.filtered.insufficient_cpu 1
	deploy fits --cpu 0.7 --memory 128Mi
	wait_until 3 phase_is fits running
	[ "$(idyl node get --subnet "$S" -o json | jq -c '.[0].allocated')" = '{"cpu":0.95,"memory":"288Mi","gpus":0}' ]
}

@test "a platform no compatible node has gives the capacity message until such a node joins" {
	S=$(new_subnet)
	start_sim --subnet "$S" --count 2 --runtime-profile docker
	deploy arm --platform linux/arm64
	wait_until 3 message_is arm "$(no_capacity_msg)"
	[ "$(wl arm | jq -c .status.placement)" = \
		'{"nodesEvaluated":2,"outcome":"insufficient_capacity","filtered":{"platform_mismatch":2}}' ]
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc --platform linux/arm64 \
		--name-prefix arm
	wait_until 3 phase_is arm running
	field_is arm .status.node arm-0
}

@test "microvm with GPUs runs only on qemu nodes that declare --microvm-gpu" {
	S=$(new_subnet --allowed-isolation-class container,microvm)
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-firecracker --gpus 2 \
		--microvm-gpu --name-prefix fc-gpu
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu --gpus 2 \
		--name-prefix qemu-plain
	start_sim --subnet "$S" --count 1 --runtime-profile docker --gpus 2 --name-prefix docker-gpu
	deploy vmgpu --isolation-class microvm --gpus 1
	wait_until 3 message_is vmgpu "$(no_capacity_msg)"
	[ "$(wl vmgpu | jq -c .status.placement)" = \
		'{"nodesEvaluated":3,"outcome":"insufficient_capacity","filtered":{"isolation_class_mismatch":1,"microvm_gpu_unsupported":2}}' ]

	deploy cgpu --isolation-class container --gpus 1 # GPU containers are a different fit
	wait_until 3 phase_is cgpu running
	field_is cgpu .status.node docker-gpu-0
	phase_is vmgpu pending

	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu --gpus 2 \
		--microvm-gpu --name-prefix qemu-gpu
	wait_until 3 phase_is vmgpu running
	field_is vmgpu .status.node qemu-gpu-0
}

@test "GPUs are counted: a microvm GPU node that is full gives the capacity message" {
	S=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu --gpus 1 --microvm-gpu
	deploy g1 --gpus 1
	wait_until 3 phase_is g1 running
	deploy g2 --gpus 1
	wait_until 3 message_is g2 "$(no_capacity_msg)"
	field_is g2 .status.placement.filtered.insufficient_gpus 1
}

@test "node loss: workloads go lost and are placed again on other compatible nodes" {
	S=$(new_subnet --allowed-isolation-class container,microvm)
	start_sim --subnet "$S" --count 2 --runtime-profile docker --name-prefix doomed
	doomed=$SIM_PID
	for i in 1 2 3 4; do deploy "w$i" --isolation-class container; done
	for i in 1 2 3 4; do wait_until 3 phase_is "w$i" running; done
	start_sim --subnet "$S" --count 2 --runtime-profile containerd-kata-qemu --name-prefix kata
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc --name-prefix spare

	kill -TERM "$doomed" # the machine goes away: no more heartbeats
	for i in 1 2 3 4; do
		wait_until 8 field_is "w$i" .status.node spare-0
		wait_until 3 phase_is "w$i" running
		idyl workload get "w$i" --subnet "$S" -o json >/dev/null
		run curl -s -H "Authorization: Bearer $IDYL_TOKEN" "$IDYL_ADDR/v1/subnets/$S/workloads/w$i/events"
		[ "$(echo "$output" | jq -r '[.[].type] | index("Lost") != null')" = true ]
		[[ "$(echo "$output" | jq -r '.[] | select(.type == "Lost") | .message')" == "node doomed-"[01]" is down: no heartbeat for 2s" ]]
	done
	[ "$(idyl node get --subnet "$S" -o json | jq -r '[.[] | select(.name | startswith("doomed")) | .status] | unique | join(",")')" = down ]
	[ "$(idyl node get --subnet "$S" -o json | jq '[.[] | select(.name | startswith("kata")) | .allocated.cpu] | add')" = 0 ]
}

@test "policy re-check: a container workload lost after an edit to microvm is rejected, not placed again" {
	S=$(new_subnet --allowed-isolation-class container,microvm)
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix doomed
	doomed=$SIM_PID
	deploy web --isolation-class container
	wait_until 3 phase_is web running
	run idyl subnet edit "$S" --allowed-isolation-class microvm
	[ "$status" -eq 0 ]
	phase_is web running # an edit never evicts
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix spare

	kill -TERM "$doomed"
	wait_until 8 phase_is web rejected
	message_is web 'isolation.class "container" is not allowed by subnet runtimePolicy'
	[ "$(wl web | jq -r .status.node)" = null ]
	run curl -s -H "Authorization: Bearer $IDYL_TOKEN" "$IDYL_ADDR/v1/subnets/$S/workloads/web/events"
	[ "$(echo "$output" | jq -r '[.[].type] | .[-2:] | join(",")')" = Lost,Rejected ]
	[ "$(echo "$output" | jq -r '.[-1].message')" = 'isolation.class "container" is not allowed by subnet runtimePolicy' ]
	sleep 1 # a later pass does not place it either
	phase_is web rejected
	[ "$(idyl node get --subnet "$S" -o json | jq -r '.[] | select(.name == "spare-0") | .allocated.cpu')" = 0 ]
}

@test "a lost microvm workload waits with the isolation message when no kata node is left" {
	S=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	start_sim --subnet "$S" --count 1 --runtime-profile containerd-kata-qemu
	kata=$SIM_PID
	start_sim --subnet "$S" --count 2 --runtime-profile docker
	deploy vm
	wait_until 3 phase_is vm running
	kill -TERM "$kata"
	wait_until 8 phase_is vm lost
	wait_until 3 message_is vm "$(no_runtime_msg microvm)"
	[ "$(wl vm | jq -c .status.placement)" = \
		'{"nodesEvaluated":3,"outcome":"no_compatible_nodes","filtered":{"node_down":1,"isolation_class_mismatch":2}}' ]
	[ "$(wl vm | jq -r .status.node)" = null ]
}

@test "a node that is down takes no new work; it takes work again when it comes back" {
	S=$(new_subnet)
	start_sim --subnet "$S" --count 1 --runtime-profile docker
	stop_sims
	wait_until 6 eval '[ "$(idyl node get --subnet "$S" -o json | jq -r ".[0].status")" = down ]'
	deploy web
	wait_until 3 message_is web "$(no_runtime_msg container)"
	field_is web .status.placement.filtered.node_down 1
	start_sim --subnet "$S" --count 1 --runtime-profile docker # the same node re-joins
	wait_until 3 phase_is web running
	field_is web .status.node sim-docker-0
}
