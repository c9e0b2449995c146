# Shared set-up for the end-to-end tests: real binaries from $IDYL_BUILD
# (default ./build), a real idyld on a free loopback port with its data in
# the test's own temporary directory, stopped afterwards.

IDYL_BUILD=${IDYL_BUILD:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
PATH=$IDYL_BUILD:$PATH
export IDYL_CONFIG=/dev/null   # never read the user's config in tests
bats_require_minimum_version 1.5.0 # run's --separate-stderr and ! flags

# What start_sim and watch_bg started: each test begins with none.
SIM_PIDS=
SIM_N=0
WATCH_PIDS=

# Starts idyld with data in $1 (default $BATS_TEST_TMPDIR/data); sets
# IDYL_ADDR, IDYL_TOKEN and IDYLD_PID. Extra arguments go to idyld.
start_idyld() {
	local data=${1:-$BATS_TEST_TMPDIR/data}
	shift || true
	rm -f "$data/idyld.addr"
	idyld --listen 127.0.0.1:0 --data-dir "$data" "$@" >>"$BATS_TEST_TMPDIR/idyld.log" 2>&1 &
	IDYLD_PID=$!
	for _ in $(seq 200); do
		[ -s "$data/idyld.addr" ] && break
		sleep 0.05
	done
	[ -s "$data/idyld.addr" ] || { cat "$BATS_TEST_TMPDIR/idyld.log" >&2; return 1; }
	IDYL_ADDR=$(cat "$data/idyld.addr")
	IDYL_TOKEN=$(cat "$data/operator.token")
	export IDYL_ADDR IDYL_TOKEN IDYLD_PID
}

# setup: start_idyld_with_subnet [IDYLD ARGS...]: idyld (data in the test's
# directory) and one new subnet, S.
start_idyld_with_subnet() {
	start_idyld "" "$@"
	S=$(new_subnet)
}

stop_idyld() {
	[ -n "${IDYLD_PID:-}" ] || return 0
	kill "$IDYLD_PID" 2>/dev/null || true
	wait "$IDYLD_PID" 2>/dev/null || true
	IDYLD_PID=
}

# Creates a subnet with the given flags and prints its slug.
new_subnet() {
	idyl subnet create --region us-east "$@" -o json | jq -r .slug
}

# Calls the API with the operator credential: api METHOD PATH [BODY].
# Prints the response body, then the HTTP status on a line of its own.
api() {
	local method=$1 path=$2 body=()
	[ $# -lt 3 ] || body=(-H 'Content-Type: application/json' --data-binary "$3")
	curl -s -X "$method" -H "Authorization: Bearer $IDYL_TOKEN" "${body[@]}" \
		-w '\n%{http_code}' "$IDYL_ADDR$path"
}

# Checks `api` output in $output: status $1, error code $2, message $3
# (the message is optional).
expect_error() {
	echo "$output"
	[ "${lines[-1]}" = "$1" ]
	[ "$(echo "${lines[0]}" | jq -r .error.code)" = "$2" ]
	[ $# -lt 3 ] || [ "$(echo "${lines[0]}" | jq -r .error.message)" = "$3" ]
}

# expect_errors: each line of stdin, "METHOD PATH|BODY|STATUS CODE|MESSAGE",
# is a request (an empty BODY: none) that must be refused with that status,
# error code and message (an empty MESSAGE: any).
expect_errors() {
	local request body want message
	while IFS='|' read -r request body want message; do
		echo "$request $body"
		# shellcheck disable=SC2086 # "METHOD PATH" and "STATUS CODE" are two words each
		run api $request ${body:+"$body"} </dev/null
		# shellcheck disable=SC2086
		expect_error $want ${message:+"$message"}
	done
}

# The number of subnets the server holds.
subnet_count() {
	idyl subnet list -o json | jq length
}

# The number of workloads in subnet $1.
workload_count() {
	idyl workload list --subnet "$1" -o json | jq length
}

# Waits (up to 10 s) until workload $2 of subnet $1 satisfies the jq
# condition $3, e.g. '.status.placement != null'.
wait_workload() {
	for _ in $(seq 200); do
		idyl workload get "$2" --subnet "$1" -o json | jq -e "$3" >/dev/null && return 0
		sleep 0.05
	done
	echo "workload $2 never matched $3:" >&2
	idyl workload get "$2" --subnet "$1" -o json >&2
	return 1
}

# wait_until SECONDS COMMAND...: runs COMMAND every 0.1s until it succeeds;
# past the deadline it runs it once more in the open, so a failure shows.
wait_until() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -le "$deadline" ] || { "$@"; return; }
		sleep 0.1
	done
}

# Starts `idyl-sim nodes ARGS...` in the background (fd 3 closed so bats does
# not wait on it), waits for its "joined" line; sets SIM_PID and SIM_OUT.
start_sim() {
	SIM_N=$((SIM_N + 1))
	SIM_OUT=$BATS_TEST_TMPDIR/sim.$SIM_N.out
	idyl-sim nodes "$@" >"$SIM_OUT" 2>>"$BATS_TEST_TMPDIR/sim.err" 3>&- &
	SIM_PID=$!
	SIM_PIDS="$SIM_PIDS $SIM_PID"
	for _ in $(seq 600); do
		grep -q ' nodes joined subnet ' "$SIM_OUT" && return 0
		kill -0 "$SIM_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$BATS_TEST_TMPDIR/sim.err" >&2
	return 1
}

stop_sims() {
	for p in $SIM_PIDS; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	SIM_PIDS=
}

# A throw-away CA and a server certificate it signed, for 127.0.0.1 and
# localhost, in $PKI (default $BATS_TEST_TMPDIR/pki): ca.pem/ca.key,
# server.pem/server.key.
make_test_pki() {
	PKI=${PKI:-$BATS_TEST_TMPDIR/pki}
	mkdir -p "$PKI"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.pem" \
		-days 2 -subj "/CN=idyl test ca" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout "$PKI/server.key" -out "$PKI/server.csr" \
		-subj /CN=idyld 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$PKI/ext"
	openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
		-CAcreateserial -out "$PKI/server.pem" -days 2 -extfile "$PKI/ext" 2>/dev/null
}

# watch_bg FILE ARGS...: idyl ARGS in the background (a --watch), its output
# into FILE; sets WATCH_PIDS, which stop_watches stops.
watch_bg() {
	local out=$1
	shift
	idyl "$@" >"$out" 2>&1 3>&- &
	WATCH_PIDS="$WATCH_PIDS $!"
}

stop_watches() {
	for p in $WATCH_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	WATCH_PIDS=
}

# teardown of a test on hollow nodes: its watches, its simulators, idyld.
end_hollow_test() {
	stop_watches
	stop_sims
	stop_idyld
}
