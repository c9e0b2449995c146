#!/usr/bin/env bats
# The subnet's network policy enforced on a real Docker Engine (SPEC 6.1,
# 6.2): each egress mode seen from inside a workload, towards the node
# (INPUT), a host beyond it (FORWARD) and the same subnet's workloads; a
# live edit reaching a running workload within 10 s without a restart; and
# the agent's chains gone with its last workload. The Engine manages
# iptables, so the file runs in a network namespace of its own.
load helper
load docker
load netpolicy

setup_file() {
	start_dockerd "$BATS_FILE_TMPDIR/d"
	load_busybox_image
	start_far_host
}

teardown_file() {
	stop_far_host
	stop_dockerd
}

setup() {
	start_idyld "" --node-ttl 6
	SUBNET=$(new_subnet)
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node
	idyl node join --subnet "$SUBNET" --runtime-profile docker --name n1 \
		--runtime-endpoint "unix://$DOCKER_SOCK" --start
	wait_until 10 sh -c "idyl node get n1 --subnet $SUBNET -o json | jq -e '.status == \"ready\"'"
	host_listener 18080
}

teardown() {
	stop_host_listener
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node idyl node stop >/dev/null 2>&1 || true
	stop_idyld
	for id in $(docker_api GET '/containers/json?all=1' | jq -r '.[].Id'); do
		docker_api DELETE "/containers/$id?force=1" >/dev/null
	done
	for n in $(idyl_networks); do docker_api DELETE "/networks/$n" >/dev/null; done
}

running() { [ "$(workload_containers "$1" | jq '[.[] | select(.State == "running")] | length')" = 1 ]; }

# Whether workload $1 reaches $2 port $3.
reaches() {
	local out
	out=$(docker_exec "$(workload_container "$1")" nc -w 2 "$2" "$3" </dev/null 2>&1) || true
	[[ "$out" == *reached* ]]
}
cannot_reach() { ! reaches "$@"; }

# Deploys NAME as a server answering "reached" on port 8080, and a probe.
deploy_pair() {
	idyl deploy idyl/busybox:latest --name srv --subnet "$SUBNET" -- nc -ll -p 8080 -e /bin/echo reached >/dev/null
	idyl deploy idyl/busybox:latest --name probe --subnet "$SUBNET" -- sleep 3600 >/dev/null
	wait_until 15 running srv
	wait_until 15 running probe
	SRV_IP=$(container_ip "$(workload_container srv)")
	GW=$(container_gateway "$(workload_container probe)")
}

@test "egress all: the node's bridge address, a host beyond the node and the subnet's workloads, never the node's loopback" {
	deploy_pair
	# status.ip shows where it runs, once it does
	ip=$(container_ip "$(workload_container probe)")
	wait_until 15 sh -c "idyl workload get probe --subnet $SUBNET -o json | jq -e '.status.ip == \"$ip\"'"
	[ "$(idyl workload get srv --subnet "$SUBNET" -o json | jq -r .status.ip)" = "$SRV_IP" ]
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
	run docker_exec "$(workload_container srv)" nc -w 2 127.0.0.1 8080
	[[ "$output" == *reached* ]]
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

@test "a policy edit changes a running workload's reach within 10 s, without a restart" {
	deploy_pair
	c=$(workload_container probe)
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
	# the same container all along, never restarted
	[ "$(workload_container probe)" = "$c" ]
	[ "$(idyl workload get probe --subnet "$SUBNET" -o json | jq -r .status.restarts)" = 0 ]
}

@test "the agent's chains hold rules for the subnet's bridge and are gone with its last workload" {
	idyl subnet edit "$SUBNET" --egress restricted --allow-egress-cidr "$FAR_CIDR" >/dev/null
	deploy_pair
	net=$(docker_api GET "/networks/idyl-$SUBNET" | jq -r .Id)
	[ "$(idyl_chains | wc -l)" = 2 ]
	fwd=$(idyl_chains | grep -v -- '-IN$')
	iptables -S FORWARD | grep -qx -- "-A FORWARD -j $fwd"
	iptables -S INPUT | grep -qx -- "-A INPUT -j $fwd-IN"
	iptables -S "$fwd" | grep -qx -- "-A $fwd -d $FAR_CIDR -i br-${net:0:12} -j RETURN"
	iptables -S "$fwd" | grep -qx -- "-A $fwd -i br-${net:0:12} -j DROP"
	idyl workload delete srv --subnet "$SUBNET" >/dev/null
	idyl workload delete probe --subnet "$SUBNET" >/dev/null
	wait_until 20 sh -c "[ \"\$(curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/json?all=1' | jq length)\" = 0 ]"
	wait_until 10 sh -c "[ -z \"\$(iptables -S | grep IDYL-)\" ]"
	[ -z "$(idyl_networks)" ]
}
