# A machine beyond the node for network policy tests: a network namespace of
# its own behind a veth pair (the node's end 203.0.113.1, its own
# 203.0.113.2, routed back through the node) that answers "reached" on port
# 8080. Traffic a workload sends there takes the node's FORWARD path; what it
# sends to the node's own addresses takes INPUT. Everything is made in the
# test file's own network namespace (tests/e2e/in-netns) and stopped by PID.

FAR_ADDR=203.0.113.2
FAR_CIDR=203.0.113.0/24

start_far_host() {
	unshare --net sleep 1000000 &
	FAR_NS_PID=$!
	for _ in $(seq 50); do
		[ "$(readlink /proc/$FAR_NS_PID/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break
		sleep 0.05
	done
	ip link add idylfar0 type veth peer name idylfar1 netns "$FAR_NS_PID"
	ip addr add 203.0.113.1/24 dev idylfar0
	ip link set idylfar0 up
	nsenter -t "$FAR_NS_PID" -n sh -c "ip link set lo up && ip addr add $FAR_ADDR/24 dev idylfar1 &&
		ip link set idylfar1 up && ip route add default via 203.0.113.1"
	nsenter -t "$FAR_NS_PID" -n busybox nc -ll -p 8080 -e /bin/echo reached &
	FAR_LISTENER_PID=$!
	wait_until 5 sh -c "busybox nc -w 1 $FAR_ADDR 8080 </dev/null | grep -q reached"
	export FAR_NS_PID FAR_LISTENER_PID
}

stop_far_host() {
	[ -z "${FAR_LISTENER_PID:-}" ] || kill "$FAR_LISTENER_PID" 2>/dev/null || true
	[ -z "${FAR_NS_PID:-}" ] || kill "$FAR_NS_PID" 2>/dev/null || true
	ip link del idylfar0 2>/dev/null || true
	FAR_LISTENER_PID= FAR_NS_PID=
}

# A TCP listener on every address of the node (its bridge addresses and
# 127.0.0.1) at port $1 that answers "reached"; stopped by stop_host_listener.
host_listener() {
	busybox nc -ll -p "$1" -e /bin/echo reached &
	HOST_LISTENER_PID=$!
	wait_until 5 sh -c "busybox nc -w 1 127.0.0.1 $1 </dev/null | grep -q reached"
}

stop_host_listener() {
	[ -z "${HOST_LISTENER_PID:-}" ] || kill "$HOST_LISTENER_PID" 2>/dev/null || true
	HOST_LISTENER_PID=
}

# The agent's chains in this namespace (names only).
idyl_chains() { iptables -S | sed -n 's/^-N \(IDYL-[^ ]*\)$/\1/p'; }
