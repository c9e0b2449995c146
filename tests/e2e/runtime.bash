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
