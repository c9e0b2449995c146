#!/usr/bin/env bats
# The subnet's network policy enforced on a real containerd with CNI (SPEC
# 6.1, 6.2): every sandbox shares the agent's CNI bridge, so the agent's
# chains name each workload address. Each egress mode seen from inside a
# workload's network namespace, towards the node (INPUT), a host beyond it
# (FORWARD), the same subnet's and another subnet's workloads; a live edit
# within 10 s without a restart; every chain gone with the workloads.
load helper
load containerd
load netpolicy

setup_file() {
	start_containerd "$BATS_FILE_TMPDIR/c"
	load_images
	start_far_host
}

teardown_file() {
	stop_far_host
	stop_containerd
}

setup() {
	start_idyld "" --node-ttl 6
	SUBNET=$(new_subnet)
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node
	idyl node join --subnet "$SUBNET" --runtime-profile containerd-runc --name n1 \
		--runtime-endpoint "unix://$CONTAINERD_SOCK" --cni-conf-dir "$CNI_CONF_DIR" --start
	wait_until 10 sh -c "idyl node get n1 --subnet $SUBNET -o json | jq -e '.status == \"ready\"'"
	host_listener 18080
	GW=10.89.0.1
}

teardown() {
	local s w
	stop_host_listener
	for s in "$SUBNET" ${OTHER:-}; do
		for w in $(idyl workload list --subnet "$s" -o json | jq -r '.[].name'); do
			idyl workload delete "$w" --subnet "$s" >/dev/null 2>&1 || true
		done
	done
	wait_until 30 sh -c "[ -z \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q)\" ]" || true
	for d in "$BATS_TEST_TMPDIR"/node*; do
		IDYL_NODE_DIR=$d idyl node stop >/dev/null 2>&1 || true
	done
	stop_idyld
}

# The pid of workload $1's running container.
task_pid() {
	local id
	id=$(cctr c ls -q "labels.\"io.idyl.workload\"==$1,labels.\"io.cri-containerd.kind\"==container" | head -1)
	cctr t ls | awk -v id="$id" '$1 == id && $3 == "RUNNING" { print $2 }'
}
running() { [ -n "$(task_pid "$1")" ]; }

# Whether workload $1 reaches $2 port $3 from its network namespace.
reaches() {
	local out
	out=$(nsenter -t "$(task_pid "$1")" -n busybox nc -w 2 "$2" "$3" </dev/null 2>&1) || true
	[[ "$out" == *reached* ]]
}
cannot_reach() { ! reaches "$@"; }

address_of() { # WORKLOAD: its address on the CNI network
	nsenter -t "$(task_pid "$1")" -n ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }'
}

deploy_pair() {
	idyl deploy idyl/busybox:latest --name srv --subnet "$SUBNET" -- nc -ll -p 8080 -e /bin/echo reached >/dev/null
	idyl deploy idyl/busybox:latest --name probe --subnet "$SUBNET" -- sleep 3600 >/dev/null
	wait_until 20 running srv
	wait_until 20 running probe
	SRV_IP=$(address_of srv)
}

@test "egress all: the node's bridge address, a host beyond the node and the subnet's workloads, never the node's loopback" {
	deploy_pair
	# status.ip shows where it runs, once it does
	ip=$(address_of probe)
	wait_until 15 sh -c "idyl workload get probe --subnet $SUBNET -o json | jq -e '.status.ip == \"$ip\"'"
	[ "$(idyl workload get srv --subnet "$SUBNET" -o json | jq -r .status.ip)" = "$SRV_IP" ]
	# a network namespace of its own, not the host's
	[ "$(readlink "/proc/$(task_pid probe)/ns/net")" != "$(readlink /proc/self/ns/net)" ]
	reaches probe "$GW" 18080
	reaches probe "$FAR_ADDR" 8080
	reaches probe "$SRV_IP" 8080
	cannot_reach probe 127.0.0.1 18080
}

@test "egress none: no connection in or out, not with the node nor the subnet's own workloads" {
	idyl subnet edit "$SUBNET" --egress none >/dev/null
	deploy_pair
	cannot_reach probe "$GW" 18080
	cannot_reach probe "$FAR_ADDR" 8080
	cannot_reach probe "$SRV_IP" 8080
	! busybox nc -w 2 "$SRV_IP" 8080 </dev/null | grep -q reached
	run nsenter -t "$(task_pid srv)" -n busybox nc -w 2 127.0.0.1 8080 </dev/null
	[[ "$output" == *reached* ]]
}

@test "egress restricted: out only to the listed CIDRs and the subnet's own workloads, never another subnet's" {
	OTHER=$(new_subnet --egress restricted --allow-egress-cidr 10.0.0.0/8)
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-other idyl node join --subnet "$OTHER" \
		--runtime-profile containerd-runc --name m1 --runtime-endpoint "unix://$CONTAINERD_SOCK" \
		--cni-conf-dir "$CNI_CONF_DIR" --start
	wait_until 10 sh -c "idyl node get m1 --subnet $OTHER -o json | jq -e '.status == \"ready\"'"
	idyl subnet edit "$SUBNET" --egress restricted --allow-egress-cidr "$FAR_CIDR" >/dev/null
	deploy_pair
	idyl deploy idyl/busybox:latest --name stranger --subnet "$OTHER" -- sleep 3600 >/dev/null
	wait_until 20 running stranger
	reaches probe "$FAR_ADDR" 8080
	reaches probe "$SRV_IP" 8080
	cannot_reach probe "$GW" 18080
	# a CIDR that covers the pod network never opens another subnet's workloads
	cannot_reach stranger "$SRV_IP" 8080
	reaches stranger "$GW" 18080
	cannot_reach stranger "$FAR_ADDR" 8080
}

@test "a policy edit changes a running workload's reach within 10 s, without a restart" {
	deploy_pair
	pid=$(task_pid probe)
	reaches probe "$FAR_ADDR" 8080
	start=$(date +%s)
	idyl subnet edit "$SUBNET" --egress none >/dev/null
	wait_until 10 cannot_reach probe "$FAR_ADDR" 8080
	[ $(($(date +%s) - start)) -le 10 ]
	idyl subnet edit "$SUBNET" --egress restricted --allow-egress-cidr "$FAR_CIDR" >/dev/null
	wait_until 10 reaches probe "$FAR_ADDR" 8080
	cannot_reach probe "$GW" 18080
	idyl subnet edit "$SUBNET" --clear-network-policy >/dev/null
	wait_until 10 reaches probe "$GW" 18080
	[ "$(task_pid probe)" = "$pid" ]
	[ "$(idyl workload get probe --subnet "$SUBNET" -o json | jq -r .status.restarts)" = 0 ]
}

@test "the agent's chains name each workload address and are gone with its last workload" {
	idyl subnet edit "$SUBNET" --egress restricted --allow-egress-cidr "$FAR_CIDR" >/dev/null
	deploy_pair
	ip=$(address_of probe)
	[ "$(idyl_chains | wc -l)" = 2 ]
	fwd=$(idyl_chains | grep -v -- '-IN$')
	iptables -S FORWARD | grep -qx -- "-A FORWARD -j $fwd"
	iptables -S INPUT | grep -qx -- "-A INPUT -j $fwd-IN"
	iptables -S "$fwd" | grep -qx -- "-A $fwd -s $ip/32 -d $FAR_CIDR -j ACCEPT"
	iptables -S "$fwd" | grep -qx -- "-A $fwd -s $ip/32 -j DROP"
	iptables -S "$fwd-IN" | grep -qx -- "-A $fwd-IN -s $ip/32 -j DROP"
	idyl workload delete srv --subnet "$SUBNET" >/dev/null
	idyl workload delete probe --subnet "$SUBNET" >/dev/null
	wait_until 30 sh -c "[ -z \"\$(ctr -a '$CONTAINERD_SOCK' -n k8s.io c ls -q)\" ]"
	wait_until 10 sh -c "[ -z \"\$(iptables -S | grep IDYL-)\" ]"
}
