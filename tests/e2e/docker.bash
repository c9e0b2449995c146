# A real Docker Engine for end-to-end tests: dockerd with its own data root,
# exec root and socket in a temporary directory, managing iptables as it does
# by default, with a private address pool and no default bridge; and a busybox
# image built from busybox-static and imported through the Engine API (no
# registry is reachable). An Engine that manages iptables rewrites the
# DOCKER-* chains of its network namespace when it starts, so the file runs in
# a namespace of its own (tests/e2e/in-netns, as ctest runs it).

# Fails unless this runs in a network namespace other than the machine's.
require_own_netns() {
	[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net)" ] && return 0
	echo "run this file in its own network namespace: tests/e2e/in-netns bats $BATS_TEST_FILENAME" >&2
	return 1
}

# An address pool of this run's own (from its PID), so two Engines never
# hand out the same subnets even in one namespace: 10.N.0.0/16 in /24s.
address_pool() { echo "base=10.$((100 + ${1:-$$} % 150)).0.0/16,size=24"; }

# Starts dockerd in $1 (a short path: the socket path must fit sun_path);
# sets DOCKER_SOCK and DOCKERD_PID. Extra dockerd flags may follow
# (--iptables=false for an Engine that cannot keep subnets apart).
start_dockerd() {
	local dir=$1
	shift
	require_own_netns
	mkdir -p "$dir"
	DOCKER_SOCK=$dir/docker.sock
	dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
		-H "unix://$DOCKER_SOCK" --bridge=none --default-address-pool "$(address_pool)" \
		"$@" >"$dir/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	for _ in $(seq 300); do
		[ "$(curl -s --unix-socket "$DOCKER_SOCK" http://d/_ping 2>/dev/null)" = OK ] && break
		sleep 0.1
	done
	[ "$(curl -s --unix-socket "$DOCKER_SOCK" http://d/_ping)" = OK ] || {
		tail -20 "$dir/dockerd.log" >&2
		return 1
	}
	export DOCKER_SOCK DOCKERD_PID
}

stop_dockerd() {
	[ -n "${DOCKERD_PID:-}" ] || return 0
	# containers first, so no shim outlives the test
	local ids
	ids=$(docker_api GET '/containers/json?all=1' | jq -r '.[].Id' 2>/dev/null || true)
	for id in $ids; do docker_api DELETE "/containers/$id?force=1" >/dev/null || true; done
	kill "$DOCKERD_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$DOCKERD_PID" 2>/dev/null || true
	DOCKERD_PID=
}

# docker_api METHOD PATH [curl args...]: the Engine API on our socket.
docker_api() {
	local method=$1 path=$2
	shift 2
	curl -s --unix-socket "$DOCKER_SOCK" -X "$method" "$@" "http://d$path"
}

# Imports the busybox image as $1 (default idyl/busybox:latest).
load_busybox_image() {
	local ref=${1:-idyl/busybox:latest}
	"$BATS_TEST_DIRNAME/../../scripts/busybox-image" docker "$DOCKER_SOCK" "$ref"
	[ "$(docker_api GET "/images/$ref/json" | jq -r .Id)" != null ]
}

# JSON list of the containers labelled for workload $1.
workload_containers() {
	local f
	f=$(jq -rn --arg w "io.idyl.workload=$1" '{label: [$w]} | @uri')
	docker_api GET "/containers/json?all=1&filters=$f"
}

# docker_exec CONTAINER CMD...: runs CMD in the container on a terminal (a
# raw stream: no frame headers), prints what it wrote and returns its exit
# code.
docker_exec() {
	local c=$1 id code
	shift
	id=$(docker_api POST "/containers/$c/exec" -H 'Content-Type: application/json' \
		-d "$(printf '%s\0' "$@" | jq -Rsc 'split("\u0000") | if .[-1] == "" then .[:-1] else . end | {Cmd: ., AttachStdout: true, AttachStderr: true, Tty: true}')" |
		jq -r .Id)
	[ "$id" != null ] || return 125
	docker_api POST "/exec/$id/start" -H 'Content-Type: application/json' -d '{"Detach":false,"Tty":true}' |
		tr -d '\r'
	code=$(docker_api GET "/exec/$id/json" | jq -r .ExitCode)
	return "$code"
}

# The CFS quota (microseconds per 100 ms period) in force in container $1,
# as its own cgroup says: cgroup v2's cpu.max or v1's cpu.cfs_quota_us.
cpu_quota() {
	docker_exec "$1" sh -c 'cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us' |
		cut -d' ' -f1
}

# The running container of workload $1 (its first).
workload_container() { workload_containers "$1" | jq -r '[.[] | select(.State == "running")][0].Id'; }

# The address of container $1 on its network, and the network's gateway
# (the host's address on that bridge).
container_ip() { docker_api GET "/containers/$1/json" | jq -r '.NetworkSettings.Networks[].IPAddress'; }
container_gateway() { docker_api GET "/containers/$1/json" | jq -r '.NetworkSettings.Networks[].Gateway'; }

# The agent-made networks of the Engine (name list).
idyl_networks() { docker_api GET /networks | jq -r '.[] | select(.Labels["io.idyl.subnet"]) | .Name'; }
