# One container runtime for a test file, and node agents on it: a private
# dockerd (docker.bash) or containerd (containerd.bash) started in the
# file's temporary directory for the whole file and stopped by PID, a node
# agent per test joined to it, and what a test left on the runtime removed
# after it. IDYL_E2E_RUNTIME names the runtime (docker or containerd): a
# file written for both reads it from the environment (tests/CMakeLists.txt
# runs it once with each), a file written for one passes it to
# start_runtime. Both runtimes manage the iptables of their network
# namespace, so such a file runs in one of its own (tests/e2e/in-netns, as
# ctest runs it).

load docker
load containerd

unset IDYL_NODE_DIR # each test's own, never the user's

# setup_file: start_runtime [RUNTIME] starts the runtime (default
# $IDYL_E2E_RUNTIME) with its images; the tests see IDYL_E2E_RUNTIME.
start_runtime() {
	IDYL_E2E_RUNTIME=${1:-${IDYL_E2E_RUNTIME:-}}
	export IDYL_E2E_RUNTIME
	case $IDYL_E2E_RUNTIME in
	docker) start_dockerd "$BATS_FILE_TMPDIR/d" && load_busybox_image ;;
	containerd) start_containerd "$BATS_FILE_TMPDIR/c" && load_images ;;
	*)
		echo "set IDYL_E2E_RUNTIME to docker or containerd: IDYL_E2E_RUNTIME=docker bats $BATS_TEST_FILENAME" >&2
		return 1
		;;
	esac
}

# teardown_file: stops whichever runtime start_runtime started.
stop_runtime() {
	stop_dockerd
	stop_containerd
}

# runtime_join ARGS...: idyl node join ARGS... on the file's runtime (the
# runc profile on containerd).
runtime_join() {
	case $IDYL_E2E_RUNTIME in
	docker) idyl node join --runtime-profile docker --runtime-endpoint "unix://$DOCKER_SOCK" "$@" ;;
	containerd)
		idyl node join --runtime-profile containerd-runc --runtime-endpoint "unix://$CONTAINERD_SOCK" \
			--cni-conf-dir "$CNI_CONF_DIR" "$@"
		;;
	esac
}

# start_node SUBNET NAME [JOIN FLAGS...]: joins node NAME to SUBNET on the
# file's runtime with its agent started (in $IDYL_NODE_DIR, exported as
# $BATS_TEST_TMPDIR/node when unset) and waits until it is ready.
start_node() {
	local subnet=$1 name=$2
	shift 2
	export IDYL_NODE_DIR=${IDYL_NODE_DIR:-$BATS_TEST_TMPDIR/node}
	runtime_join --subnet "$subnet" --name "$name" "$@" --start || return
	wait_until 15 sh -c "idyl node get '$name' --subnet '$subnet' -o json | jq -e '.status == \"ready\"'"
}

# setup: start_subnet_node [NEW_SUBNET FLAGS...] [-- JOIN FLAGS...]: idyld
# (a silent node is lost after 6 s), a subnet $SUBNET made with the flags
# and node n1 on the file's runtime, joined with the flags after --, ready.
start_subnet_node() {
	local subnet_flags=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		subnet_flags+=("$1")
		shift
	done
	[ $# -eq 0 ] || shift
	start_idyld "" --node-ttl 6
	SUBNET=$(new_subnet "${subnet_flags[@]}")
	start_node "$SUBNET" n1 "$@"
}

# ---- steps the agent tests take alike on either runtime ----------------

# Whether workload $1 of $SUBNET satisfies the jq condition $2.
workload_is() { idyl workload get "$1" --subnet "$SUBNET" -o json | jq -e "$2" >/dev/null; }

# Node n1 runs its agent and reports a ready container runtime with the
# machine's CPUs; `idyl node get n1 -o json` is left in $output.
n1_ready_with_machine_facts() {
	kill -0 "$(cat "$IDYL_NODE_DIR/agent.pid")"
	run idyl node get n1 --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .runtime.ready)" = true ]
	[ "$(echo "$output" | jq -r .runtime.reason)" = "" ]
	[ "$(echo "$output" | jq -r .runtime.isolationClass)" = container ]
	[ "$(echo "$output" | jq -r .capacity.cpu)" = "$(nproc)" ]
}

# deploy_crashing RESTARTS SECONDS: deploys crash, which exits with code 3
# at once, and waits until it was restarted RESTARTS times and then shows
# the exit code and the restart to come (up to SECONDS for each).
deploy_crashing() {
	idyl deploy idyl/busybox:latest --name crash --subnet "$SUBNET" -- sh -c 'exit 3'
	wait_until "$2" workload_is crash ".status.restarts >= $1"
	wait_until "$2" workload_is crash '.status.phase == "exited" and (.status.message | startswith("exited with code 3; restarting in "))'
}

# Deploys vm, a microvm workload, once $SUBNET allows both classes: no node
# of the runtime takes it, so it stays pending and says why.
deploy_pending_microvm() {
	idyl subnet edit "$SUBNET" --allowed-isolation-class container,microvm
	idyl deploy idyl/busybox:latest --name vm --subnet "$SUBNET" --isolation-class microvm -- sleep 3600
	sleep 2
	workload_is vm '.status.phase == "pending"'
	run idyl workload get vm --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status.message)" = "no available nodes in subnet $SUBNET support requested isolation class microvm" ]
}

# idyl node stop for $IDYL_NODE_DIR, which must say it stopped the agent.
stop_agent() {
	run idyl node stop
	[ "$status" -eq 0 ]
	[ "$output" = "node agent stopped" ]
}

# Runs the agent of $IDYL_NODE_DIR again, detached as join --start runs it,
# and waits until idyl node status sees it running.
run_agent() {
	setsid idyl node run >>"$IDYL_NODE_DIR/agent.log" 2>&1 </dev/null 3>&- &
	wait_until 10 sh -c "[ -n \"\$(idyl node status -o json | jq -r 'select(.agent.running) | .agent.pid')\" ]"
}

# The pid of workload $1's running container (its first), as the node sees
# it; nothing while none runs.
workload_pid() {
	local id
	if [ "$IDYL_E2E_RUNTIME" = docker ]; then
		docker_api GET "/containers/$(workload_container "$1")/json" | jq -r 'select(.State.Running) | .State.Pid'
	else
		id=$(cctr c ls -q "labels.\"io.idyl.workload\"==$1,labels.\"io.cri-containerd.kind\"==container" | head -1)
		cctr t ls | awk -v id="$id" '$1 == id && $3 == "RUNNING" { print $2 }'
	fi
}

# Whether the runtime holds no container at all (on containerd no sandbox
# either).
runtime_is_empty() {
	if [ "$IDYL_E2E_RUNTIME" = docker ]; then
		[ "$(docker_api GET '/containers/json?all=1' | jq length)" = 0 ]
	else
		[ -z "$(cctr c ls -q)" ]
	fi
}

# teardown: end_runtime_test [SUBNET...] stops the test's node agents (every
# $BATS_TEST_TMPDIR/node*) and idyld, and leaves the runtime as the file
# found it. On containerd the agents remove their sandboxes (and the logs)
# themselves, so every workload of the subnets named (default $SUBNET) is
# deleted first and the sandboxes awaited; on Docker the containers and the
# agents' networks are removed from the Engine afterwards.
end_runtime_test() {
	local s w d id n
	if [ "$IDYL_E2E_RUNTIME" = containerd ]; then
		for s in "${@:-$SUBNET}"; do
			for w in $(idyl workload list --subnet "$s" -o json | jq -r '.[].name'); do
				idyl workload delete "$w" --subnet "$s" >/dev/null 2>&1 || true
			done
		done
		wait_until 30 runtime_is_empty || true
	fi
	for d in "$BATS_TEST_TMPDIR"/node*; do
		IDYL_NODE_DIR=$d idyl node stop >/dev/null 2>&1 || true
	done
	stop_idyld
	if [ "$IDYL_E2E_RUNTIME" = docker ]; then
		for id in $(docker_api GET '/containers/json?all=1' | jq -r '.[].Id'); do
			docker_api DELETE "/containers/$id?force=1" >/dev/null
		done
		# containers removed behind the agents' backs leave their networks
		for n in $(idyl_networks); do docker_api DELETE "/networks/$n" >/dev/null; done
	fi
}

# deploy_printer: deploys w to $SUBNET printing one, two (stderr), three,
# then whatever is written to its FIFO /tmp/say (as it is written: cat
# copies it at once); returns once it runs and its logs show three.
deploy_printer() {
	idyl deploy idyl/busybox:latest --name w --subnet "$SUBNET" -- \
		sh -c 'echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three; mkfifo /tmp/say; while :; do cat /tmp/say; done' >/dev/null
	wait_until 30 sh -c "idyl workload get w --subnet '$SUBNET' -o json | jq -e '.status.phase == \"running\"'"
	wait_until 10 sh -c "idyl workload logs w --subnet '$SUBNET' 2>/dev/null | grep -q three"
}

# printer_logs_apart: `idyl workload logs w` of deploy_printer's workload
# exits 0 and prints its stdout (one, three) on stdout and its stderr (two)
# on stderr.
printer_logs_apart() {
	run sh -c "idyl workload logs w --subnet $SUBNET 2>/dev/null"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'one\nthree')" ]
	run sh -c "idyl workload logs w --subnet $SUBNET 2>&1 >/dev/null"
	[ "$status" -eq 0 ]
	[ "$output" = "two" ]
}
