#!/usr/bin/env bats
# The node agent on a real Docker Engine: join --start, readiness, running,
# restarting and removing workloads, adoption after an agent restart; each
# subnet's own network, subnets apart, the hardened baseline. The Engine
# manages iptables, so the file runs in a network namespace of its own
# (tests/e2e/in-netns, as ctest runs it).
load helper
load runtime

setup_file() { start_runtime docker; }
teardown_file() { stop_runtime; }

setup() { start_subnet_node; }

teardown() {
	[ -z "${LISTENER_PID:-}" ] || kill "$LISTENER_PID" 2>/dev/null || true
	[ -z "${DOCKERD2_PID:-}" ] || stop_second_dockerd
	end_runtime_test
}

# A TCP listener on every address of the host (so on its 127.0.0.1 too) at
# port $1 that answers "reached"; LISTENER_PID is stopped by teardown.
host_listener() {
	busybox nc -ll -p "$1" -e /bin/echo reached &
	LISTENER_PID=$!
	wait_until 5 sh -c "busybox nc -w 1 127.0.0.1 $1 </dev/null | grep -q reached"
}

# Whether workload $1's container reaches $2 port $3 (prints what it read).
reaches() {
	local out
	out=$(docker_exec "$(workload_container "$1")" nc -w 2 "$2" "$3" </dev/null 2>&1) || true
	[[ "$out" == *reached* ]]
}

# Deploys NAME in SUBNET as a server answering "reached" on port 8080.
deploy_server() {
	idyl deploy idyl/busybox:latest --name "$1" --subnet "$2" -- nc -ll -p 8080 -e /bin/echo reached
}

stop_second_dockerd() {
	kill "$DOCKERD2_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$DOCKERD2_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$DOCKERD2_PID" 2>/dev/null || true
	DOCKERD2_PID=
}

node_is() {
	[ "$(idyl node get n1 --subnet "$SUBNET" -o json | jq -r .status)" = "$1" ]
}

phase_is() { # NAME PHASE
	[ "$(idyl workload get "$1" --subnet "$SUBNET" -o json | jq -r .status.phase)" = "$2" ]
}

running_count() { # NAME N
	[ "$(workload_containers "$1" | jq '[.[] | select(.State == "running")] | length')" = "$2" ]
}

# join_failing_n2 SOCKET CHECK: joins a second node n2 (IDYL_NODE_DIR
# becomes $BATS_TEST_TMPDIR/node2) on the Engine at SOCKET and waits until
# its readiness check CHECK fails; `idyl node get n2 -o json` is left in
# $output, with the node not ready.
join_failing_n2() {
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node2
	idyl node join --subnet "$SUBNET" --runtime-profile docker --name n2 \
		--runtime-endpoint "unix://$1" --start
	wait_until 15 sh -c "idyl node get n2 --subnet $SUBNET -o json | jq -e '.runtime.reason | startswith(\"$2 \")'"
	run idyl node get n2 --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status)" = not-ready ]
}

container_logs() {
	docker_api GET "/containers/$1/logs?stdout=1&stderr=1" | tr -d '\000-\010'
}

@test "join --start leaves a running agent and the node becomes ready with Docker's facts" {
	[ -s "$IDYL_NODE_DIR/agent.pid" ]
	n1_ready_with_machine_facts
	[ "$(echo "$output" | jq -r .simulated)" = false ]
}

@test "node status prints the configuration, the agent and each readiness check" {
	run idyl node status
	[ "$status" -eq 0 ]
	[[ "$output" == *"profile:       docker"* ]]
	[[ "$output" == *"agent:         running (pid $(cat "$IDYL_NODE_DIR/agent.pid"))"* ]]
	[[ "$output" == *"reachable (node ready, admitted)"* ]]
	echo "$output" | grep -E "^socket +$DOCKER_SOCK +pass +present"
	echo "$output" | grep -E "^daemon +Docker Engine API +pass +Docker Engine 20"
	run idyl node status -o json
	[ "$(echo "$output" | jq -r '[.checks[] | select(.ok | not)] | length')" = 0 ]
	[ "$(echo "$output" | jq -r .ready)" = true ]
}

@test "deploy runs a real container with the image's output, limits, env and labels" {
	run idyl deploy idyl/busybox:latest --name hello --subnet "$SUBNET" --cpu 0.5 \
		--memory 64Mi --env GREETING=hi -- sh -c 'echo "$GREETING from idyl"; sleep 3600'
	[ "$status" -eq 0 ]
	wait_until 10 phase_is hello running
	c=$(workload_containers hello | jq -r '.[0].Id')
	[ "$(docker_api GET "/containers/$c/json" | jq -r .HostConfig.NanoCpus)" = 500000000 ]
	[ "$(docker_api GET "/containers/$c/json" | jq -r .HostConfig.CpuShares)" = 512 ]
	# the limit is in force on the running container, not only in its config
	[ "$(cpu_quota "$c")" = 50000 ]
	[ "$(docker_api GET "/containers/$c/json" | jq -r .HostConfig.Memory)" = $((64 << 20)) ]
	[ "$(docker_api GET "/containers/$c/json" | jq -r '.Config.Labels["io.idyl.revision"]')" = 1 ]
	wait_until 5 sh -c "curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/$c/logs?stdout=1' | grep -a 'hi from idyl'"
	run idyl workload get hello --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status.node)" = n1 ]
	[ "$(echo "$output" | jq -r .status.runtimeProfile)" = docker ]
}

@test "a killed container is restarted with back-off and the restart is counted" {
	idyl deploy idyl/busybox:latest --name svc --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count svc 1
	c=$(workload_containers svc | jq -r '.[0].Id')
	docker_api POST "/containers/$c/kill"
	wait_until 10 running_count svc 1
	[ "$(workload_containers svc | jq -r '.[0].Id')" = "$c" ]
	wait_until 5 sh -c "idyl workload get svc --subnet $SUBNET -o json | jq -e '.status.restarts == 1 and .status.phase == \"running\"'"
	# restarted with its CPU limit (the default 0.1 CPU) in place
	[ "$(cpu_quota "$c")" = 10000 ]
	run idyl workload events svc --subnet "$SUBNET" -o json
	echo "$output" | jq -e 'map(select(.type == "Exited")) | length >= 1'
}

@test "a workload that keeps failing shows its exit code and waits longer each time" {
	deploy_crashing 2 20
	# back-off doubles (1s, 2s, 4s): the third restart comes 7s after the first exit
	sleep 1
	run idyl workload get crash --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status.restarts)" = 2 ]
}

@test "delete stops and removes the container" {
	idyl deploy idyl/busybox:latest --name gone --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count gone 1
	run idyl workload delete gone --subnet "$SUBNET"
	[ "$status" -eq 0 ]
	wait_until 10 sh -c "[ \"\$(curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/json?all=1' | jq length)\" = 0 ]"
}

@test "a new revision replaces the container" {
	idyl deploy idyl/busybox:latest --name web --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count web 1
	old=$(workload_containers web | jq -r '.[0].Id')
	idyl deploy idyl/busybox:latest --name web --subnet "$SUBNET" --env V=2 -- sleep 3600
	wait_until 10 sh -c "curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/json?all=1' | jq -e 'length == 1 and .[0].Labels[\"io.idyl.revision\"] == \"2\"'"
	[ "$(workload_containers web | jq -r '.[0].Id')" != "$old" ]
	wait_until 5 phase_is web running
}

@test "an agent restart adopts running containers instead of starting duplicates" {
	idyl deploy idyl/busybox:latest --name keep --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count keep 1
	c=$(workload_containers keep | jq -r '.[0].Id')
	stop_agent
	# the workload keeps running while no agent runs
	running_count keep 1
	run_agent
	sleep 1.5
	[ "$(workload_containers keep | jq length)" = 1 ]
	[ "$(workload_containers keep | jq -r '.[0].Id')" = "$c" ]
	run idyl workload get keep --subnet "$SUBNET" -o json
	echo "$output"
	[ "$(echo "$output" | jq -r .status.phase)" = running ]
}

@test "a missing image that cannot be pulled fails the workload with the registry's error" {
	idyl deploy idyl/not-here:1.0 --name nopull --subnet "$SUBNET" -- sleep 1
	wait_until 20 phase_is nopull failed
	run idyl workload get nopull --subnet "$SUBNET" -o json
	[[ "$(echo "$output" | jq -r .status.message)" == "pull image idyl/not-here:1.0: "* ]]
	# and it is tried again with back-off (1 s, 2 s, ...), not at the next 10 s list
	wait_until 6 sh -c "[ \"\$(grep -c 'workload nopull revision 1: pull image' '$IDYL_NODE_DIR/agent.log')\" -ge 3 ]"
}

@test "a microvm workload never becomes a Docker container" {
	deploy_pending_microvm
	[ "$(workload_containers vm | jq length)" = 0 ]
}

@test "a Docker Engine that stops answering makes the node not ready, with the reason" {
	# a second node pointing at a socket where no daemon listens
	join_failing_n2 "$BATS_TEST_TMPDIR/none.sock" socket
	[ "$(echo "$output" | jq -r .runtime.reason)" = "socket $BATS_TEST_TMPDIR/none.sock: No such file or directory" ]
	run idyl node status
	[ "$status" -eq 0 ]
	echo "$output" | grep -E "^socket +$BATS_TEST_TMPDIR/none.sock +fail +No such file or directory"
}

@test "a node that comes back after being down removes what was placed elsewhere" {
	idyl deploy idyl/busybox:latest --name moved --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count moved 1
	first=$(workload_containers moved | jq -r '.[0].Id')
	idyl node stop
	# a second node on the same Engine takes the work once n1 is down
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node2 idyl node join --subnet "$SUBNET" \
		--runtime-profile docker --name n2 --runtime-endpoint "unix://$DOCKER_SOCK" --start
	wait_until 20 sh -c "idyl workload get moved --subnet $SUBNET -o json | jq -e '.status.node == \"n2\" and .status.phase == \"running\"'"
	[ "$(workload_containers moved | jq '[.[] | select(.State == "running")] | length')" = 2 ]
	# n1 returns: its agent stops and removes the container it no longer owns
	setsid idyl node run >>"$IDYL_NODE_DIR/agent.log" 2>&1 </dev/null 3>&- &
	wait_until 10 sh -c "[ \"\$(curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/json?all=1' | jq --arg id '$first' '[.[] | select(.Id == \$id)] | length')\" = 0 ]"
	[ "$(workload_containers moved | jq length)" = 1 ]
	wait_until 10 node_is ready
}

@test "node status shows the iptables check passing on an Engine that manages iptables" {
	run idyl node status
	[ "$status" -eq 0 ]
	echo "$output" | grep -E "^iptables +Engine-managed iptables +pass +the Engine filters bridge br-"
	# the check's probe network is gone again: no workload needs it
	[ -z "$(idyl_networks)" ]
}

@test "a workload joins its subnet's network, hardened, and the network goes with the last one" {
	idyl deploy idyl/busybox:latest --name hard --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count hard 1
	c=$(workload_container hard)
	run docker_api GET "/containers/$c/json"
	[ "$(echo "$output" | jq -r .HostConfig.NetworkMode)" = "idyl-$SUBNET" ]
	[ "$(echo "$output" | jq -r .HostConfig.Privileged)" = false ]
	[ "$(echo "$output" | jq -r .HostConfig.PidMode)" = "" ]
	[ "$(echo "$output" | jq -r .HostConfig.IpcMode)" = private ]
	[ "$(echo "$output" | jq -r .Config.StopTimeout)" = 10 ]
	[ "$(idyl_networks)" = "idyl-$SUBNET" ]
	# what the process itself sees
	run docker_exec "$c" cat /proc/self/status
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^NoNewPrivs:\s+1$'
	capeff=$(echo "$output" | sed -n 's/^CapEff:\s*//p')
	[ $((0x$capeff & (1 << 13))) -eq 0 ]  # CAP_NET_RAW
	[ $((0x$capeff & (1 << 10))) -ne 0 ]  # CAP_NET_BIND_SERVICE, of Docker's defaults, kept
	[ $((0x$capeff & (1 << 21))) -eq 0 ]  # CAP_SYS_ADMIN never
	run docker_exec "$c" cat /sys/fs/cgroup/pids/pids.max
	[ "$output" = 1024 ]
	run docker_exec "$c" ping -c 1 -W 1 127.0.0.1
	[ "$status" -ne 0 ]
	idyl workload delete hard --subnet "$SUBNET"
	wait_until 15 sh -c "[ \"\$(curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/json?all=1' | jq length)\" = 0 ]"
	wait_until 5 sh -c "! curl -s --unix-socket '$DOCKER_SOCK' http://d/networks | jq -e '.[] | select(.Labels[\"io.idyl.subnet\"])' >/dev/null"
}

@test "the host's loopback is never reachable from a workload; its bridge address is" {
	host_listener 18080
	idyl deploy idyl/busybox:latest --name probe --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count probe 1
	gw=$(container_gateway "$(workload_container probe)")
	[[ "$gw" == 10.* ]]
	! reaches probe 127.0.0.1 18080
	reaches probe "$gw" 18080
}

@test "workloads of different subnets on one Engine cannot connect; the same subnet's can" {
	OTHER=$(new_subnet)
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-other idyl node join --subnet "$OTHER" \
		--runtime-profile docker --name m1 --runtime-endpoint "unix://$DOCKER_SOCK" --start
	wait_until 10 sh -c "idyl node get m1 --subnet $OTHER -o json | jq -e '.status == \"ready\"'"
	deploy_server srv "$SUBNET"
	idyl deploy idyl/busybox:latest --name mate --subnet "$SUBNET" -- sleep 3600
	idyl deploy idyl/busybox:latest --name stranger --subnet "$OTHER" -- sleep 3600
	wait_until 10 running_count srv 1
	wait_until 10 running_count mate 1
	wait_until 10 running_count stranger 1
	ip=$(container_ip "$(workload_container srv)")
	[ "$(docker_api GET "/containers/$(workload_container stranger)/json" | jq -r .HostConfig.NetworkMode)" = "idyl-$OTHER" ]
	reaches mate "$ip" 8080
	! reaches stranger "$ip" 8080
}

@test "an Engine running with --iptables=false makes the node not ready, naming the check" {
	start_second_engine() {
		local dir=$BATS_TEST_TMPDIR/e2
		mkdir -p "$dir"
		dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
			-H "unix://$dir/docker.sock" --bridge=none --iptables=false \
			--default-address-pool "$(address_pool $(($$ + 1)))" >"$dir/dockerd.log" 2>&1 &
		DOCKERD2_PID=$!
		wait_until 30 sh -c "[ \"\$(curl -s --unix-socket '$dir/docker.sock' http://d/_ping)\" = OK ]"
	}
	start_second_engine
	join_failing_n2 "$BATS_TEST_TMPDIR/e2/docker.sock" iptables
	[[ "$(echo "$output" | jq -r .runtime.reason)" == "iptables Engine-managed iptables: the Engine set no iptables rules for its bridge br-"*": it runs with --iptables=false, which cannot keep subnets apart" ]]
	run idyl node status
	echo "$output" | grep -E "^iptables +Engine-managed iptables +fail +the Engine set no iptables rules"
	# the probe network is not left behind on that Engine either
	[ "$(curl -s --unix-socket "$BATS_TEST_TMPDIR/e2/docker.sock" http://d/networks | jq '[.[] | select(.Labels["io.idyl.subnet"])] | length')" = 0 ]
	# the ready node on the good Engine is untouched
	node_is ready
}

@test "deploy --pids-limit and --stop-timeout reach the container and bound its stop" {
	idyl deploy idyl/busybox:latest --name lim --subnet "$SUBNET" --pids-limit 64 --stop-timeout 2s -- \
		sh -c "trap '' TERM; while :; do sleep 1; done"
	wait_until 10 running_count lim 1
	run idyl workload get lim --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .spec.pidsLimit)" = 64 ]
	[ "$(echo "$output" | jq -r .spec.stopTimeout)" = 2s ]
	c=$(workload_container lim)
	[ "$(docker_api GET "/containers/$c/json" | jq -r .HostConfig.PidsLimit)" = 64 ]
	[ "$(docker_api GET "/containers/$c/json" | jq -r .Config.StopTimeout)" = 2 ]
	run docker_exec "$c" cat /sys/fs/cgroup/pids/pids.max
	[ "$output" = 64 ]
	# it ignores SIGTERM: gone after the 2s grace, not Docker's 10s
	start=$(date +%s)
	idyl workload delete lim --subnet "$SUBNET"
	wait_until 15 sh -c "[ \"\$(curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/json?all=1' | jq length)\" = 0 ]"
	[ $(($(date +%s) - start)) -lt 8 ]
}

# Counts containers of workload $1 in any state.
container_count() { # NAME N
	[ "$(workload_containers "$1" | jq length)" = "$2" ]
}

@test "a workload that ignores SIGTERM delays only its own removal, and starts run in parallel" {
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node idyl node stop >/dev/null
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node IDYL_NODE_WORKERS=4 \
		idyl node run >>"$BATS_TEST_TMPDIR/node/agent.log" 2>&1 3>&- &
	wait_until 10 sh -c "grep -q '4 workers' '$BATS_TEST_TMPDIR/node/agent.log'"
	idyl deploy idyl/busybox:latest --name stubborn --subnet "$SUBNET" --stop-timeout 30s -- \
		sh -c "trap '' TERM; while :; do sleep 1; done"
	for i in 1 2 3; do
		idyl deploy idyl/busybox:latest --name "quick$i" --subnet "$SUBNET" -- \
			sh -c 'trap "exit 0" TERM; while :; do sleep 1; done'
	done
	for w in stubborn quick1 quick2 quick3; do wait_until 15 running_count "$w" 1; done
	# the stubborn one goes first and holds its 30 s grace on one worker
	idyl workload delete stubborn --subnet "$SUBNET"
	wait_until 5 grep -q "removing .*: workload stubborn revision 1" "$BATS_TEST_TMPDIR/node/agent.log"
	start=$(date +%s)
	for i in 1 2 3; do idyl workload delete "quick$i" --subnet "$SUBNET"; done
	for i in 1 2 3; do wait_until 10 container_count "quick$i" 0; done
	[ $(($(date +%s) - start)) -lt 10 ]
	# and a new workload starts meanwhile
	idyl deploy idyl/busybox:latest --name late --subnet "$SUBNET" -- sleep 600
	wait_until 10 running_count late 1
	container_count stubborn 1
	# the agent stops at once: the removal under way is abandoned, and the
	# next agent finishes it
	start=$(date +%s)
	run idyl node stop
	[ "$status" -eq 0 ]
	[ $(($(date +%s) - start)) -lt 5 ]
}

@test "restart counts survive an agent restart" {
	idyl deploy idyl/busybox:latest --name counted --subnet "$SUBNET" -- sleep 3600
	wait_until 10 running_count counted 1
	docker_api POST "/containers/$(workload_container counted)/kill" >/dev/null
	wait_until 10 sh -c "idyl workload get counted --subnet $SUBNET -o json | jq -e '.status.restarts == 1 and .status.phase == \"running\"'"
	[ "$(jq -c . "$IDYL_NODE_DIR/restarts.json")" = '{"counted":{"revision":1,"restarts":1}}' ]
	idyl node stop >/dev/null
	run_agent
	# the new agent's reports go on from 1, and count on
	wait_until 5 grep -c "runtime ready" "$IDYL_NODE_DIR/agent.log"
	sleep 1.5
	run idyl workload get counted --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status.restarts)" = 1 ]
	docker_api POST "/containers/$(workload_container counted)/kill" >/dev/null
	wait_until 10 sh -c "idyl workload get counted --subnet $SUBNET -o json | jq -e '.status.restarts == 2 and .status.phase == \"running\"'"
	# a new revision starts counting from 0
	idyl deploy idyl/busybox:latest --name counted --subnet "$SUBNET" --env V=2 -- sleep 3600
	wait_until 10 sh -c "idyl workload get counted --subnet $SUBNET -o json | jq -e '.revision == 2 and .status.phase == \"running\" and .status.restarts == 0'"
}
