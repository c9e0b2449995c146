#!/usr/bin/env bats
# The node agent on a real containerd through CRI: join --start, readiness,
# running, restarting and removing workloads as pod sandboxes, adoption after
# an agent restart, and the Kata profiles reported not ready on a machine
# without Kata or KVM while microvm workloads wait.
load helper
load runtime

setup_file() { start_runtime containerd; }
teardown_file() { stop_runtime; }

setup() { start_subnet_node; }

teardown() {
	[ -z "${SECOND_PID:-}" ] || kill -9 "$SECOND_PID" 2>/dev/null || true
	end_runtime_test "$SUBNET" ${OTHER:-}
}

node_is() { # NAME STATUS
	[ "$(idyl node get "$1" --subnet "$SUBNET" -o json | jq -r .status)" = "$2" ]
}

phase_is() { # NAME PHASE
	[ "$(idyl workload get "$1" --subnet "$SUBNET" -o json | jq -r .status.phase)" = "$2" ]
}

# IDs of the containerd containers of workload $1 of kind $2 (sandbox or container).
ids_of() {
	cctr c ls -q "labels.\"io.idyl.workload\"==$1,labels.\"io.cri-containerd.kind\"==$2"
}

# IDs of the running tasks among them.
running_of() {
	local id
	for id in $(ids_of "$1" "$2"); do
		cctr t ls | awk -v id="$id" '$1 == id && $3 == "RUNNING" { print $1 }'
	done
}

running_count() { # NAME N: running workload containers
	[ "$(running_of "$1" container | grep -c .)" = "$2" ]
}

info() { cctr c info "$1"; }

@test "join --start leaves a running agent and the containerd-runc node becomes ready" {
	n1_ready_with_machine_facts
	run idyl node status
	[ "$status" -eq 0 ]
	[[ "$output" == *"profile:       containerd-runc"* ]]
	[[ "$output" == *"provider:      containerd (handler io.containerd.runc.v2)"* ]]
	echo "$output" | grep -E "^socket +$CONTAINERD_SOCK +pass +present$"
	echo "$output" | grep -E "^cri +runtime.v1 RuntimeService +pass +containerd 1\.[0-9.]+.* answers CRI v1$"
	echo "$output" | grep -E "^status +CRI RuntimeReady +pass +ready$"
	echo "$output" | grep -E "^cni-plugins +/usr/lib/cni +pass +bridge, host-local, loopback present$"
	echo "$output" | grep -E "^cni-config +$CNI_CONF_DIR/10-idyl.conflist +pass "
	echo "$output" | grep -E "^network +CRI NetworkReady +pass +ready$"
	echo "$output" | grep -E "^handler +runc +pass +runtime type io.containerd.runc.v2$"
	run idyl node status -o json
	[ "$(echo "$output" | jq -r '[.checks[] | select(.ok | not)] | length')" = 0 ]
}

@test "deploy runs a pod sandbox with the runc handler, the limits, env, labels and output" {
	run idyl deploy idyl/busybox:latest --name hello --subnet "$SUBNET" --cpu 0.5 \
		--memory 64Mi --env GREETING=hi -- sh -c 'echo "$GREETING from idyl"; sleep 3600'
	[ "$status" -eq 0 ]
	wait_until 20 phase_is hello running
	[ "$(running_of hello sandbox | grep -c .)" = 1 ]
	[ "$(running_of hello container | grep -c .)" = 1 ]
	c=$(ids_of hello container)
	s=$(ids_of hello sandbox)
	info "$c" | jq -e '.Runtime.Name == "io.containerd.runc.v2"'
	info "$s" | jq -e '.Runtime.Name == "io.containerd.runc.v2"'
	[ "$(info "$c" | jq -r .Spec.linux.resources.cpu.quota)" = 50000 ]
	[ "$(info "$c" | jq -r .Spec.linux.resources.cpu.period)" = 100000 ]
	[ "$(info "$c" | jq -r .Spec.linux.resources.memory.limit)" = $((64 << 20)) ]
	info "$c" | jq -e '.Spec.process.env | index("GREETING=hi")'
	info "$c" | jq -e '.Spec.process.args == ["sh", "-c", "echo \"$GREETING from idyl\"; sleep 3600"]'
	[ "$(info "$c" | jq -r '.Labels["io.idyl.revision"]')" = 1 ]
	[ "$(info "$s" | jq -r '.Labels["io.idyl.node"]')" = "$SUBNET/n1" ]
	# a network namespace of its own (not the host's), shared by its container
	[ -n "$(info "$s" | jq -r '.Spec.linux.namespaces[] | select(.type == "network") | .path')" ]
	cpid=$(cctr t ls | awk -v id="$c" '$1 == id { print $2 }')
	spid=$(cctr t ls | awk -v id="$s" '$1 == id { print $2 }')
	[ "$(readlink "/proc/$cpid/ns/net")" = "$(readlink "/proc/$spid/ns/net")" ]
	[ "$(readlink "/proc/$cpid/ns/net")" != "$(readlink /proc/self/ns/net)" ]
	# the sandbox carries the workload's resources: containerd hands them to
	# the runtime as annotations, which Kata sizes its VM by
	[ "$(info "$s" | jq -r '.Spec.annotations["io.kubernetes.cri.sandbox-cpu-quota"]')" = 50000 ]
	[ "$(info "$s" | jq -r '.Spec.annotations["io.kubernetes.cri.sandbox-memory"]')" = $((64 << 20)) ]
	log=$(ls "$IDYL_NODE_DIR"/pods/idyl_hello-r1-*/hello/0.log)
	wait_until 5 grep -q ' stdout F hi from idyl$' "$log"
	run idyl workload get hello --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status.node)" = n1 ]
	[ "$(echo "$output" | jq -r .status.runtimeProfile)" = containerd-runc ]
}

@test "a killed container is restarted as a new container in the same sandbox" {
	idyl deploy idyl/busybox:latest --name svc --subnet "$SUBNET" -- sleep 3600
	wait_until 20 running_count svc 1
	c=$(ids_of svc container)
	s=$(ids_of svc sandbox)
	cctr t kill -s KILL "$c"
	wait_until 15 sh -c "idyl workload get svc --subnet $SUBNET -o json | jq -e '.status.restarts == 1 and .status.phase == \"running\"'"
	running_count svc 1
	# CRI cannot start an exited container: a new one, and the old one removed
	[ "$(ids_of svc container)" != "$c" ]
	[ "$(ids_of svc container | grep -c .)" = 1 ]
	[ "$(ids_of svc sandbox)" = "$s" ]
	info "$(ids_of svc container)" | jq -e '.Labels["io.idyl.workload"] == "svc"'
	run idyl workload events svc --subnet "$SUBNET" -o json
	echo "$output" | jq -e 'map(select(.type == "Exited")) | length >= 1'
}

@test "a workload that keeps failing shows its exit code" {
	deploy_crashing 1 20
	# one sandbox throughout
	[ "$(ids_of crash sandbox | grep -c .)" = 1 ]
}

@test "delete stops and removes the sandbox, its container and its logs" {
	idyl deploy idyl/busybox:latest --name gone --subnet "$SUBNET" -- sleep 3600
	wait_until 20 running_count gone 1
	dir=$(ls -d "$IDYL_NODE_DIR"/pods/idyl_gone-r1-*)
	[ -d "$dir" ]
	run idyl workload delete gone --subnet "$SUBNET"
	[ "$status" -eq 0 ]
	wait_until 20 sh -c "[ -z \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q 'labels.\"io.idyl.workload\"==gone')\" ]"
	[ ! -e "$dir" ]
}

@test "a new revision replaces the sandbox" {
	idyl deploy idyl/busybox:latest --name web --subnet "$SUBNET" -- sleep 3600
	wait_until 20 running_count web 1
	old=$(ids_of web sandbox)
	idyl deploy idyl/busybox:latest --name web --subnet "$SUBNET" --env V=2 -- sleep 3600
	wait_until 20 sh -c "[ \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q 'labels.\"io.idyl.workload\"==web,labels.\"io.cri-containerd.kind\"==sandbox')\" != '$old' ] && [ \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q 'labels.\"io.idyl.workload\"==web' | wc -l)\" = 2 ]"
	[ "$(info "$(ids_of web sandbox)" | jq -r '.Labels["io.idyl.revision"]')" = 2 ]
	wait_until 10 phase_is web running
}

@test "an agent restart adopts the running sandbox instead of starting a duplicate" {
	idyl deploy idyl/busybox:latest --name keep --subnet "$SUBNET" -- sleep 3600
	wait_until 20 running_count keep 1
	c=$(ids_of keep container)
	s=$(ids_of keep sandbox)
	stop_agent
	# the workload keeps running while no agent runs
	running_count keep 1
	run_agent
	sleep 2
	[ "$(ids_of keep container)" = "$c" ]
	[ "$(ids_of keep sandbox)" = "$s" ]
	run idyl workload get keep --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status.phase)" = running ]
	[ "$(echo "$output" | jq -r .status.restarts)" = 0 ]
}

@test "an image that cannot be pulled fails the workload with containerd's error" {
	idyl deploy idyl/not-here:1.0 --name nopull --subnet "$SUBNET" -- sleep 1
	wait_until 60 phase_is nopull failed
	run idyl workload get nopull --subnet "$SUBNET" -o json
	[[ "$(echo "$output" | jq -r .status.message)" == "pull image idyl/not-here:1.0: "* ]]
	[ -z "$(ids_of nopull sandbox)" ]
}

# The Kata lines as this machine must report them.
kata_expectations() { # BACKEND: qemu | fc
	local shim=containerd-shim-kata-$1-v2
	if command -v "$shim" >/dev/null; then
		SHIM_LINE="^shim +$shim +pass "
	else
		SHIM_LINE="^shim +$shim +fail +not found on PATH$"
	fi
	if [ -e /dev/kvm ]; then
		KVM_LINE="^kvm +/dev/kvm +(pass|fail) "
	else
		KVM_LINE="^kvm +/dev/kvm +fail +not present$"
	fi
}

@test "the Kata profiles are not ready without Kata and KVM, and microvm workloads wait" {
	[ -e /dev/kvm ] && [ -e /opt/kata ] && skip "this machine has Kata and KVM"
	# kata-qemu configured in containerd (its shim is not installed); kata-fc not at all
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-qemu
	idyl node join --subnet "$SUBNET" --runtime-profile containerd-kata-qemu --name vm-qemu \
		--runtime-endpoint "unix://$CONTAINERD_SOCK" --cni-conf-dir "$CNI_CONF_DIR" --start
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-fc
	idyl node join --subnet "$SUBNET" --runtime-profile containerd-kata-firecracker --name vm-fc \
		--runtime-endpoint "unix://$CONTAINERD_SOCK" --cni-conf-dir "$CNI_CONF_DIR" --start
	wait_until 10 sh -c "idyl node get vm-fc --subnet $SUBNET -o json | jq -e '.runtime.reason != \"\"'"
	wait_until 10 sh -c "idyl node get vm-qemu --subnet $SUBNET -o json | jq -e '.runtime.reason != \"\"'"

	run idyl node get vm-qemu --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status)" = not-ready ]
	[ "$(echo "$output" | jq -r .runtime.isolationClass)" = microvm ]
	[ "$(echo "$output" | jq -r .runtime.reason)" = "shim containerd-shim-kata-qemu-v2: not found on PATH" ]
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-qemu
	run idyl node status
	[ "$status" -eq 0 ]
	kata_expectations qemu
	echo "$output" | grep -E "^runtime: +not ready$"
	echo "$output" | grep -E "^status +CRI RuntimeReady +pass "
	echo "$output" | grep -E "^handler +kata-qemu +pass +runtime type io.containerd.kata-qemu.v2$"
	echo "$output" | grep -E "$SHIM_LINE"
	echo "$output" | grep -E "^kata-config +configuration-qemu.toml +fail +not found in /etc/kata-containers, /opt/kata/share/defaults/kata-containers or /usr/share/defaults/kata-containers$"
	echo "$output" | grep -E "$KVM_LINE"

	run idyl node get vm-fc --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status)" = not-ready ]
	[ "$(echo "$output" | jq -r .runtime.reason)" = "handler kata-fc: not configured in containerd (configured: kata-qemu, runc)" ]
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-fc
	run idyl node status
	kata_expectations fc
	echo "$output" | grep -E "^handler +kata-fc +fail +not configured in containerd \(configured: kata-qemu, runc\)$"
	echo "$output" | grep -E "$SHIM_LINE"
	echo "$output" | grep -E "^kata-config +configuration-fc.toml +fail +not found in "
	echo "$output" | grep -E "$KVM_LINE"
	echo "$output" | grep -E "^snapshotter +kata-fc +fail +uses overlayfs; Firecracker needs the devmapper snapshotter$"
	run idyl node status -o json
	[ "$(echo "$output" | jq -r .ready)" = false ]

	deploy_pending_microvm
	[ -z "$(ids_of vm sandbox)" ]
}

@test "a container runs hardened: no new privileges, no NET_RAW, never privileged" {
	idyl deploy idyl/busybox:latest --name hard --subnet "$SUBNET" -- sleep 3600
	wait_until 20 running_count hard 1
	c=$(ids_of hard container)
	info "$c" | jq -e '.Spec.process.noNewPrivileges == true'
	info "$c" | jq -e '.Spec.process.capabilities.effective | index("CAP_NET_RAW") | not'
	info "$c" | jq -e '.Spec.process.capabilities.effective | index("CAP_SYS_ADMIN") | not'
	info "$c" | jq -e '.Spec.process.capabilities.effective | index("CAP_NET_BIND_SERVICE")'
	pid=$(cctr t ls | awk -v id="$c" '$1 == id { print $2 }')
	grep -E '^NoNewPrivs:\s+1$' "/proc/$pid/status"
	capeff=$(sed -n 's/^CapEff:\s*//p' "/proc/$pid/status")
	[ $((0x$capeff & (1 << 13))) -eq 0 ] # CAP_NET_RAW
	# in a PID namespace of the sandbox's, never the host's
	[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
	[ "$(readlink "/proc/$pid/ns/ipc")" != "$(readlink /proc/self/ns/ipc)" ]
}

@test "the host's loopback is never reachable from a workload; its bridge address is" {
	busybox nc -ll -p 18080 -e /bin/echo reached &
	LISTENER_PID=$!
	wait_until 5 sh -c "busybox nc -w 1 127.0.0.1 18080 </dev/null | grep -q reached"
	idyl deploy idyl/busybox:latest --name probe --subnet "$SUBNET" -- sleep 3600
	wait_until 20 running_count probe 1
	gw=$(ip -4 -o addr show dev idyl0 | awk '{ split($4, a, "/"); print a[1] }')
	[ "$gw" = 10.89.0.1 ]
	pid=$(cctr t ls | awk -v id="$(ids_of probe container)" '$1 == id { print $2 }')
	run nsenter -t "$pid" -n busybox nc -w 2 127.0.0.1 18080 </dev/null
	[[ "$output" != *reached* ]]
	run nsenter -t "$pid" -n busybox nc -w 2 "$gw" 18080 </dev/null
	[[ "$output" == *reached* ]]
	kill "$LISTENER_PID"
}

@test "a node whose CNI directory is not containerd's, or lacks plugins, is not ready with the reason" {
	# containerd reads $CNI_CONF_DIR; this node would install its network elsewhere
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-elsewhere
	idyl node join --subnet "$SUBNET" --runtime-profile containerd-runc --name n2 \
		--runtime-endpoint "unix://$CONTAINERD_SOCK" --cni-conf-dir "$BATS_TEST_TMPDIR/elsewhere" \
		--cni-bin-dir /usr/lib/cni --start
	wait_until 10 sh -c "idyl node get n2 --subnet $SUBNET -o json | jq -e '.runtime.reason != \"\"'"
	run idyl node get n2 --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status)" = not-ready ]
	[ "$(echo "$output" | jq -r .runtime.reason)" = "cni-dir $BATS_TEST_TMPDIR/elsewhere: containerd reads CNI configuration from $CNI_CONF_DIR: set its CRI cni conf_dir, or join with --cni-conf-dir $CNI_CONF_DIR" ]
	run idyl node status
	echo "$output" | grep -E "^cni-dir +$BATS_TEST_TMPDIR/elsewhere +fail +containerd reads CNI configuration from "

	mkdir -p "$BATS_TEST_TMPDIR/nobin"
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-nobin
	idyl node join --subnet "$SUBNET" --runtime-profile containerd-runc --name n3 \
		--runtime-endpoint "unix://$CONTAINERD_SOCK" --cni-conf-dir "$CNI_CONF_DIR" \
		--cni-bin-dir "$BATS_TEST_TMPDIR/nobin" --start
	wait_until 10 sh -c "idyl node get n3 --subnet $SUBNET -o json | jq -e '.runtime.reason != \"\"'"
	run idyl node get n3 --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .runtime.reason)" = "cni-plugins $BATS_TEST_TMPDIR/nobin: missing bridge, host-local, loopback (Debian: containernetworking-plugins)" ]
	# the ready node sharing the machine is untouched
	node_is n1 ready
}

@test "a CRI that reports NetworkReady false makes the node not ready with its reason" {
	# a second containerd whose CNI directory holds a network it cannot load;
	# the agent keeps a configuration that is there (it may be another's)
	local first_sock=$CONTAINERD_SOCK first_pid=$CONTAINERD_PID first_conf=$CNI_CONF_DIR
	mkdir -p "$BATS_TEST_TMPDIR/c2/cni/conf"
	echo '{"cniVersion": "1.0.0", "name": "idyl", "plugins": []}' >"$BATS_TEST_TMPDIR/c2/cni/conf/10-idyl.conflist"
	start_containerd "$BATS_TEST_TMPDIR/c2"
	SECOND_PID=$CONTAINERD_PID second_sock=$CONTAINERD_SOCK second_conf=$CNI_CONF_DIR
	CONTAINERD_SOCK=$first_sock CONTAINERD_PID=$first_pid CNI_CONF_DIR=$first_conf
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-broken
	idyl node join --subnet "$SUBNET" --runtime-profile containerd-runc --name n4 \
		--runtime-endpoint "unix://$second_sock" --cni-conf-dir "$second_conf" --start
	wait_until 10 sh -c "idyl node get n4 --subnet $SUBNET -o json | jq -e '.runtime.reason != \"\"'"
	run idyl node get n4 --subnet "$SUBNET" -o json
	[ "$(echo "$output" | jq -r .status)" = not-ready ]
	[[ "$(echo "$output" | jq -r .runtime.reason)" == "network CRI NetworkReady: NetworkPluginNotReady: "* ]]
	run idyl node status
	echo "$output" | grep -E "^network +CRI NetworkReady +fail +NetworkPluginNotReady: "
	idyl node stop
	kill "$SECOND_PID"
	for _ in $(seq 100); do kill -0 "$SECOND_PID" 2>/dev/null || break; sleep 0.1; done
	SECOND_PID=
}

# Whether workload $1 reaches $2 port $3, from inside its network namespace.
reaches() {
	local pid out
	pid=$(cctr t ls | awk -v id="$(running_of "$1" container | head -1)" '$1 == id { print $2 }')
	out=$(nsenter -t "$pid" -n busybox nc -w 2 "$2" "$3" </dev/null 2>&1) || true
	[[ "$out" == *reached* ]]
}

sandbox_ip() { # WORKLOAD: its address on the CNI network
	local pid
	pid=$(cctr t ls | awk -v id="$(running_of "$1" container | head -1)" '$1 == id { print $2 }')
	nsenter -t "$pid" -n ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }'
}

@test "workloads of different subnets on one containerd cannot connect; the same subnet's can" {
	OTHER=$(new_subnet)
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-other idyl node join --subnet "$OTHER" \
		--runtime-profile containerd-runc --name m1 --runtime-endpoint "unix://$CONTAINERD_SOCK" \
		--cni-conf-dir "$CNI_CONF_DIR" --start
	wait_until 10 sh -c "idyl node get m1 --subnet $OTHER -o json | jq -e '.status == \"ready\"'"
	idyl deploy idyl/busybox:latest --name srv --subnet "$SUBNET" -- nc -ll -p 8080 -e /bin/echo reached
	idyl deploy idyl/busybox:latest --name mate --subnet "$SUBNET" -- sleep 3600
	idyl deploy idyl/busybox:latest --name stranger --subnet "$OTHER" -- sleep 3600
	wait_until 20 running_count srv 1
	wait_until 20 running_count mate 1
	wait_until 20 running_count stranger 1
	ip=$(sandbox_ip srv)
	[[ "$ip" == 10.89.* ]]
	reaches mate "$ip" 8080
	! reaches stranger "$ip" 8080
	# each node has a chain of its own, hooked in FORWARD
	[ "$(iptables -S FORWARD | grep -c -- '-j IDYL-')" = 2 ]
	# and the chains go with the workloads
	idyl workload delete stranger --subnet "$OTHER"
	for w in srv mate; do idyl workload delete "$w" --subnet "$SUBNET"; done
	wait_until 20 sh -c "[ -z \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q 'labels.\"io.idyl.workload\"==stranger')\" ]"
	wait_until 20 sh -c "! iptables -S | grep -q IDYL-"
}

@test "deploy --stop-timeout bounds how long a container that ignores SIGTERM takes to stop" {
	idyl deploy idyl/busybox:latest --name lim --subnet "$SUBNET" --stop-timeout 2s -- \
		sh -c "trap '' TERM; while :; do sleep 1; done"
	wait_until 20 running_count lim 1
	[ "$(info "$(ids_of lim sandbox)" | jq -r '.Labels["io.idyl.stop-timeout"]')" = 2 ]
	start=$(date +%s)
	idyl workload delete lim --subnet "$SUBNET"
	wait_until 20 sh -c "[ -z \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q 'labels.\"io.idyl.workload\"==lim')\" ]"
	[ $(($(date +%s) - start)) -lt 8 ]
}

@test "deploy --pids-limit bounds every process of the sandbox, 1024 by default, and its cgroup goes with it" {
	idyl deploy idyl/busybox:latest --name dflt --subnet "$SUBNET" -- sleep 3600
	idyl deploy idyl/busybox:latest --name lim --subnet "$SUBNET" --pids-limit 8 -- \
		sh -c 'sh -c "while :; do sleep 3600 & done"; exec sleep 3600'
	wait_until 20 running_count dflt 1
	wait_until 20 running_count lim 1
	# the sandbox's cgroup parent carries the limit, as a pod cgroup does
	for w in dflt lim; do
		parent=$(info "$(ids_of $w sandbox)" | jq -r .Spec.linux.cgroupsPath)
		[[ "$parent" == /idyl/*/* ]]
	done
	pid=$(cctr t ls | awk -v id="$(ids_of lim container)" '$1 == id { print $2 }')
	cg=$(sed -n 's/^[0-9]*:pids://p' "/proc/$pid/cgroup")
	[[ "$cg" == /idyl/* ]]
	[ "$(cat "/sys/fs/cgroup/pids${cg%/*}/pids.max")" = 8 ]
	pid=$(cctr t ls | awk -v id="$(ids_of dflt container)" '$1 == id { print $2 }')
	dcg=$(sed -n 's/^[0-9]*:pids://p' "/proc/$pid/cgroup")
	[ "$(cat "/sys/fs/cgroup/pids${dcg%/*}/pids.max")" = 1024 ]
	# inside the container: a shell that forks without end stops at the limit
	log=$(ls "$IDYL_NODE_DIR"/pods/idyl_lim-r1-*/lim/0.log)
	wait_until 10 grep -q "can't fork" "$log"
	[ "$(cat "/sys/fs/cgroup/pids${cg%/*}/pids.current")" -le 8 ]
	[ "$(idyl workload get lim --subnet "$SUBNET" -o json | jq -r .status.restarts)" = 0 ]
	idyl workload delete lim --subnet "$SUBNET"
	wait_until 30 sh -c "[ -z \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q 'labels.\"io.idyl.workload\"==lim')\" ]"
	wait_until 5 sh -c "[ ! -e '/sys/fs/cgroup/pids${cg%/*}' ]"
	[ ! -e "/sys/fs/cgroup/memory${cg%/*}" ]
}
