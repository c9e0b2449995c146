# A real Docker Engine for end-to-end tests: dockerd with its own data root,
# exec root and socket in a temporary directory (no iptables, no bridge), and
# a busybox image built from busybox-static and imported through the Engine
# API (no registry is reachable).

# Starts dockerd in $1 (a short path: the socket path must fit sun_path);
# sets DOCKER_SOCK and DOCKERD_PID.
start_dockerd() {
	local dir=$1
	mkdir -p "$dir"
	DOCKER_SOCK=$dir/docker.sock
	dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
		-H "unix://$DOCKER_SOCK" --iptables=false --ip-masq=false --bridge=none \
		>"$dir/dockerd.log" 2>&1 &
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
