#!/usr/bin/env bats
# The subnet's network policy enforced on a real container runtime (SPEC
# 6.1, 6.2): each egress mode seen from inside a workload's network
# namespace, towards the node (INPUT), a host beyond it (FORWARD), the same
# subnet's and another subnet's workloads; a live edit reaching a running
# workload within 10 s without a restart; and the agent's chains gone with
# its last workload. On Docker each subnet has a bridge of its own, which
# the chains name; on containerd every sandbox shares the agent's CNI
# bridge, so the chains name each workload address.
#
# One file for both runtimes (IDYL_E2E_RUNTIME, see runtime.bash), which
# tests/CMakeLists.txt runs once for each, under these ctest names:
# ctest: 49-netpolicy-docker docker
# ctest: 49-netpolicy-containerd containerd
load helper
load runtime
load netpolicy

setup_file() {
	start_runtime
	start_far_host
}

teardown_file() {
	stop_far_host
	stop_runtime
}

setup() {
	start_subnet_node
	host_listener 18080
}

teardown() {
	stop_host_listener
	end_runtime_test "$SUBNET" ${OTHER:-}
}

# Whether workload $1 runs: on Docker exactly one running container.
running() {
	if [ "$IDYL_E2E_RUNTIME" = docker ]; then
		[ "$(workload_containers "$1" | jq '[.[] | select(.State == "running")] | length')" = 1 ]
	else
		[ -n "$(workload_pid "$1")" ]
	fi
}

# The node's address on workload $1's bridge: on Docker its network's
# gateway, on containerd the agent's CNI bridge.
gateway_of() {
	if [ "$IDYL_E2E_RUNTIME" = docker ]; then
		container_gateway "$(workload_container "$1")"
	else
		echo 10.89.0.1
	fi
}

# Whether workload $1 reaches $2 port $3 from its network namespace: 0 it
# does, 1 it does not, 2 the workload has no running container to ask.
reaches() {
	local pid out
	pid=$(workload_pid "$1")
	[ -n "$pid" ] || {
		echo "workload $1 has no running container" >&2
		return 2
	}
	out=$(nsenter -t "$pid" -n busybox nc -w 2 "$2" "$3" </dev/null 2>&1) || true
	[[ "$out" == *reached* ]]
}
cannot_reach() {
	local rc=0
	reaches "$@" || rc=$?
	[ "$rc" -eq 1 ]
}

address_of() { # WORKLOAD: its address on its network
	nsenter -t "$(workload_pid "$1")" -n ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }'
}

# Deploys srv, a server answering "reached" on port 8080, and a probe.
deploy_pair() {
	idyl deploy idyl/busybox:latest --name srv --subnet "$SUBNET" -- nc -ll -p 8080 -e /bin/echo reached >/dev/null
	idyl deploy idyl/busybox:latest --name probe --subnet "$SUBNET" -- sleep 3600 >/dev/null
	wait_until 20 running srv
	wait_until 20 running probe
	SRV_IP=$(address_of srv)
	GW=$(gateway_of probe)
}

# A restricted pair whose chains the agent hooked into FORWARD and INPUT;
# sets FWD, the forward chain (the input chain is $FWD-IN).
deploy_restricted_pair() {
	idyl subnet edit "$SUBNET" --egress restricted --allow-egress-cidr "$FAR_CIDR" >/dev/null
	deploy_pair
	[ "$(idyl_chains | wc -l)" = 2 ]
	FWD=$(idyl_chains | grep -v -- '-IN$')
	iptables -S FORWARD | grep -qx -- "-A FORWARD -j $FWD"
	iptables -S INPUT | grep -qx -- "-A INPUT -j $FWD-IN"
}

# Deletes the pair: its containers go, and every chain of the agent with them.
delete_pair() {
	idyl workload delete srv --subnet "$SUBNET" >/dev/null
	idyl workload delete probe --subnet "$SUBNET" >/dev/null
	wait_until 30 runtime_is_empty
	wait_until 10 sh -c "[ -z \"\$(iptables -S | grep IDYL-)\" ]"
}

@test "egress all: the node's bridge address, a host beyond the node and the subnet's workloads, never the node's loopback" {
	deploy_pair
	# status.ip shows where it runs, once it does
	ip=$(address_of probe)
	wait_until 15 sh -c "idyl workload get probe --subnet $SUBNET -o json | jq -e '.status.ip == \"$ip\"'"
	[ "$(idyl workload get srv --subnet "$SUBNET" -o json | jq -r .status.ip)" = "$SRV_IP" ]
	# a network namespace of its own, not the host's
	[ "$(readlink "/proc/$(workload_pid probe)/ns/net")" != "$(readlink /proc/self/ns/net)" ]
	reaches probe "$GW" 18080
	reaches probe "$FAR_ADDR" 8080
	reaches probe "$SRV_IP" 8080
	cannot_reach probe 127.0.0.1 18080
	run idyl subnet edit "$SUBNET" --egress all -o json
	[ "$(echo "$output" | jq -c .networkPolicy)" = '{"egress":"all"}' ]
	sleep 1
	reaches probe "$FAR_ADDR" 8080
}

@test "egress none: no connection in or out, not with the node nor the subnet's own workloads" {
	idyl subnet edit "$SUBNET" --egress none >/dev/null
	deploy_pair
	cannot_reach probe "$GW" 18080
	cannot_reach probe "$FAR_ADDR" 8080
	cannot_reach probe "$SRV_IP" 8080
	# nothing connects in either, the node included
	! busybox nc -w 2 "$SRV_IP" 8080 </dev/null | grep -q reached
	# the workload keeps its own namespace: its own loopback works
	reaches srv 127.0.0.1 8080
}

@test "egress restricted: out only to the listed CIDRs and to the subnet's own workloads" {
	idyl subnet edit "$SUBNET" --egress restricted --allow-egress-cidr "$FAR_CIDR" >/dev/null
	deploy_pair
	reaches probe "$FAR_ADDR" 8080
	reaches probe "$SRV_IP" 8080
	cannot_reach probe "$GW" 18080
	# a CIDR that names the node's bridge address lets that through too
	idyl subnet edit "$SUBNET" --egress restricted --allow-egress-cidr "$GW/32" >/dev/null
	wait_until 10 reaches probe "$GW" 18080
	cannot_reach probe "$FAR_ADDR" 8080
}

@test "egress restricted: out only to the listed CIDRs and the subnet's own workloads, never another subnet's" {
	[ "$IDYL_E2E_RUNTIME" = containerd ] || skip "Docker keeps subnets on bridges of their own: 40-docker-agent proves them apart"
	OTHER=$(new_subnet --egress restricted --allow-egress-cidr 10.0.0.0/8)
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-other start_node "$OTHER" m1
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
	pid=$(workload_pid probe)
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
	# the same process all along, never restarted
	[ "$(workload_pid probe)" = "$pid" ]
	[ "$(idyl workload get probe --subnet "$SUBNET" -o json | jq -r .status.restarts)" = 0 ]
}

@test "the agent's chains hold rules for the subnet's bridge and are gone with its last workload" {
	[ "$IDYL_E2E_RUNTIME" = docker ] || skip "a Docker subnet's own bridge; containerd's shared one is the next test"
	deploy_restricted_pair
	net=$(docker_api GET "/networks/idyl-$SUBNET" | jq -r .Id)
	iptables -S "$FWD" | grep -qx -- "-A $FWD -d $FAR_CIDR -i br-${net:0:12} -j RETURN"
	iptables -S "$FWD" | grep -qx -- "-A $FWD -i br-${net:0:12} -j DROP"
	delete_pair
	[ -z "$(idyl_networks)" ]
}

@test "the agent's chains name each workload address and are gone with its last workload" {
	[ "$IDYL_E2E_RUNTIME" = containerd ] || skip "containerd's shared CNI bridge; Docker's bridges are the test before"
	deploy_restricted_pair
	ip=$(address_of probe)
	iptables -S "$FWD" | grep -qx -- "-A $FWD -s $ip/32 -d $FAR_CIDR -j ACCEPT"
	iptables -S "$FWD" | grep -qx -- "-A $FWD -s $ip/32 -j DROP"
	iptables -S "$FWD-IN" | grep -qx -- "-A $FWD-IN -s $ip/32 -j DROP"
	delete_pair
}
