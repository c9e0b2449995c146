#!/usr/bin/env bats
# Day-two operations: one version string everywhere, GET /v1/status and
# /readyz, Prometheus metrics (checked by promtool), JSON log lines.
load helper

setup() {
	start_idyld
	VERSION=$(sed -n 's/^project(idyl VERSION \([0-9.]*\).*/\1/p' \
		"$BATS_TEST_DIRNAME/../../CMakeLists.txt")
}

teardown() {
	stop_sims
	stop_idyld
}

@test "idyl version, idyld --version and idyl-sim --version print one version" {
	[ -n "$VERSION" ]
	run idyl version --client
	[ "$status" -eq 0 ]
	[ "$output" = "idyl $VERSION" ]
	run idyl --version
	[ "$output" = "idyl $VERSION" ]
	run idyld --version
	[ "$status" -eq 0 ]
	[ "$output" = "idyld $VERSION" ]
	run idyl-sim --version
	[ "$status" -eq 0 ]
	[ "$output" = "idyl-sim $VERSION" ]
}

@test "idyl version shows the server's version too, and -o json both" {
	run idyl version
	[ "$status" -eq 0 ]
	[ "$output" = "idyl $VERSION
idyld $VERSION" ]
	run idyl version -o json
	[ "$(echo "$output" | jq -c .)" = "{\"client\":\"$VERSION\",\"server\":\"$VERSION\"}" ]
	# no server: the client's version, still exit 0
	IDYL_ADDR=http://127.0.0.1:1 run idyl version
	[ "$status" -eq 0 ]
	[ "$output" = "idyl $VERSION" ]
}

@test "GET /v1/status answers any valid credential with version, store and leader" {
	run api GET /v1/status
	[ "${lines[1]}" = 200 ]
	[ "$(echo "${lines[0]}" | jq -c .)" = "{\"version\":\"$VERSION\",\"store\":\"sqlite\",\"leader\":true}" ]
	S=$(new_subnet)
	author=$(idyl token create --role author --subnet "$S" -o json | jq -r .token)
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $author" "$IDYL_ADDR/v1/status"
	[ "$output" = 200 ]
	run curl -s -o /dev/null -w '%{http_code}' "$IDYL_ADDR/v1/status"
	[ "$output" = 401 ]
}

@test "GET /readyz is 200 without a credential while the store answers, 503 when it does not" {
	run curl -s -w '\n%{http_code}' "$IDYL_ADDR/readyz"
	[ "${lines[1]}" = 200 ]
	[ "$(echo "${lines[0]}" | jq -r .status)" = ok ]
	# another process holds the database's write lock past the store's busy
	# timeout (5 s): the store does not answer
	python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(12)' "$BATS_TEST_TMPDIR/data/idyl.db" >"$BATS_TEST_TMPDIR/lock.out" 3>&- &
	LOCK_PID=$!
	wait_until 5 grep -q locked "$BATS_TEST_TMPDIR/lock.out"
	run curl -s -w '\n%{http_code}' "$IDYL_ADDR/readyz"
	kill "$LOCK_PID"
	wait "$LOCK_PID" || true
	[ "${lines[1]}" = 503 ]
	[ "$(echo "${lines[0]}" | jq -r .status)" = unavailable ]
	# the lock gone, ready again
	run curl -s -o /dev/null -w '%{http_code}' "$IDYL_ADDR/readyz"
	[ "$output" = 200 ]
}

@test "GET /metrics needs a credential and passes promtool check metrics" {
	command -v promtool || skip "promtool (Debian package prometheus) is not installed"
	run curl -s -o /dev/null -w '%{http_code}' "$IDYL_ADDR/metrics"
	[ "$output" = 401 ]
	S=$(new_subnet)
	start_sim --subnet "$S" --count 2 --runtime-profile docker
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	idyl deploy nginx --name big --cpu 100 --subnet "$S" >/dev/null
	wait_workload "$S" web '.status.phase == "running"'
	wait_workload "$S" big '.status.placement != null'
	curl -s "$IDYL_ADDR/v1/subnets/$S/workloads/nope" -H "Authorization: Bearer $IDYL_TOKEN" >/dev/null
	curl -s "$IDYL_ADDR/no/such/path" -H "Authorization: Bearer $IDYL_TOKEN" >/dev/null
	run curl -s -D "$BATS_TEST_TMPDIR/headers" -H "Authorization: Bearer $IDYL_TOKEN" "$IDYL_ADDR/metrics"
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/metrics"
	grep -qi '^content-type: text/plain; version=0.0.4' "$BATS_TEST_TMPDIR/headers"
	run promtool check metrics <"$BATS_TEST_TMPDIR/metrics"
	echo "$output"
	[ "$status" -eq 0 ]
	m=$BATS_TEST_TMPDIR/metrics
	grep -qx "idyl_workloads{subnet=\"$S\",phase=\"running\"} 1" "$m"
	grep -qx "idyl_workloads{subnet=\"$S\",phase=\"pending\"} 1" "$m"
	grep -qx "idyl_nodes{subnet=\"$S\",status=\"ready\"} 2" "$m"
	grep -q '^idyl_scheduling_attempts_total{result="placed"} [1-9]' "$m"
	grep -q '^idyl_scheduling_attempts_total{result="insufficient_capacity"} [1-9]' "$m"
	grep -q '^idyl_scheduling_latency_seconds_count [1-9]' "$m"
	# the route pattern, never the raw URL
	grep -q '^idyl_http_requests_total{route="/v1/subnets/{slug}/workloads/{name}",code="404"} 1$' "$m"
	grep -q '^idyl_http_requests_total{route="/v1/subnets/{slug}/workloads",code="201"} 2$' "$m" ||
		grep -q '^idyl_http_requests_total{route="/v1/subnets/{slug}/workloads",code="200"} 2$' "$m"
	grep -q '^idyl_http_requests_total{route="unmatched",code="404"} 1$' "$m"
	! grep -q "workloads/nope" "$m"
	grep -q '^idyl_http_request_duration_seconds_count{route="/v1/subnets/{slug}/nodes/{name}/heartbeat"} [1-9]' "$m"
}

@test "a subnet-scoped credential sees only its subnet's gauges" {
	S=$(new_subnet)
	T=$(new_subnet)
	author=$(idyl token create --role author --subnet "$S" -o json | jq -r .token)
	run curl -s -H "Authorization: Bearer $author" "$IDYL_ADDR/metrics"
	echo "$output" | grep -q "subnet=\"$S\""
	! echo "$output" | grep -q "subnet=\"$T\""
}

@test "--log-format json: every idyld line is one JSON object with time, level and msg" {
	stop_idyld
	: >"$BATS_TEST_TMPDIR/idyld.log"
	start_idyld "$BATS_TEST_TMPDIR/json" --log-format json
	stop_idyld
	[ -s "$BATS_TEST_TMPDIR/idyld.log" ]
	while IFS= read -r line; do
		echo "$line" | jq -e 'type == "object" and (.time | test("^[0-9-]+T[0-9:.]+Z$"))
			and (.level | type == "string") and (.msg | type == "string")' >/dev/null
	done <"$BATS_TEST_TMPDIR/idyld.log"
	grep -q '"msg":"serving on 127.0.0.1:0' "$BATS_TEST_TMPDIR/idyld.log"
	run idyld --log-format yaml
	[ "$status" -eq 2 ]
	[ "$output" = 'idyld: invalid --log-format "yaml": want text or json' ]
}

@test "--log-format json on the agent: every idyl-node line parses" {
	S=$(new_subnet)
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node
	# a runtime socket that is not there: the agent still runs, and says so
	idyl node join --subnet "$S" --runtime-profile docker --name n1 \
		--runtime-endpoint "unix://$BATS_TEST_TMPDIR/no.sock" >/dev/null
	idyl node run --log-format json 2>"$BATS_TEST_TMPDIR/agent.log" 3>&- &
	AGENT_PID=$!
	wait_until 10 grep -q 'runtime not ready' "$BATS_TEST_TMPDIR/agent.log"
	kill "$AGENT_PID"
	wait "$AGENT_PID" || true
	while IFS= read -r line; do
		echo "$line" | jq -e 'type == "object" and (.time | type == "string")
			and (.level | type == "string") and (.msg | type == "string")' >/dev/null
	done <"$BATS_TEST_TMPDIR/agent.log"
	grep -q '"level":"warn","msg":"runtime not ready: socket ' "$BATS_TEST_TMPDIR/agent.log"
	grep -q '"msg":"stopped; workloads keep running' "$BATS_TEST_TMPDIR/agent.log"
	run idyl node run --log-format yaml
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'error: invalid --log-format "yaml": want text or json' ]
}

@test "idyld tells systemd READY=1 once it serves, STOPPING=1 on SIGTERM (Type=notify)" {
	stop_idyld
	sock=$BATS_TEST_TMPDIR/notify.sock
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
for _ in range(2):
    print(s.recv(256).decode(), flush=True)' "$sock" >"$BATS_TEST_TMPDIR/notified" 3>&- &
	LISTENER=$!
	wait_until 5 test -S "$sock"
	NOTIFY_SOCKET=$sock start_idyld "$BATS_TEST_TMPDIR/notify-data"
	wait_until 5 grep -qx READY=1 "$BATS_TEST_TMPDIR/notified"
	# ready means serving
	run curl -s -o /dev/null -w '%{http_code}' "$IDYL_ADDR/readyz"
	[ "$output" = 200 ]
	stop_idyld
	wait "$LISTENER"
	[ "$(cat "$BATS_TEST_TMPDIR/notified")" = "READY=1
STOPPING=1" ]
}
