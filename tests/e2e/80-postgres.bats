#!/usr/bin/env bats
# Several idyld replicas on one PostgreSQL (SPEC §7): a private server in the
# test's directory (scripts/pg-test-server, stopped by PID), replicas with
# data directories of their own and one secret key. Any replica serves every
# route; one leads; kill -9 of the leader hands the lead to another within
# 10 s, loses no acknowledged deploy and places no workload twice.
load helper
load replicas

setup_file() { start_pg; }

teardown_file() { stop_pg; }

setup() {
	reset_replicas
	SIM_PIDS=
	SIM_N=0
}

teardown() {
	stop_sims
	stop_replicas
}

status_of() {
	curl -s -H "Authorization: Bearer $IDYL_TOKEN" "${ADDR[$1]}/v1/status"
}

is_leader() {
	[ "$(status_of "$1" | jq -r .leader)" = true ]
}

leaders() {
	local n=0
	for i in "$@"; do
		is_leader "$i" && n=$((n + 1))
	done
	echo "$n"
}

replicas_advertised() {
	[ "$(psql -At "$PG_URL" -c 'SELECT count(*) FROM replicas')" -eq "$1" ]
}

# one_leader_of I...: exactly one of these replicas leads.
one_leader_of() {
	[ "$(leaders "$@")" -eq 1 ]
}

@test "replicas share one store: one leads, each says so, any serves every route" {
	replicas_up 3
	# only the replica that created the operator credential wrote it
	[ "$(ls "$BATS_TEST_TMPDIR"/r*/operator.token | wc -l)" -eq 1 ]
	run status_of 2
	[ "$(echo "$output" | jq -r .store)" = postgres ]
	[ "idyld $(echo "$output" | jq -r .version)" = "$(idyld --version)" ]
	[ "$(leaders 1 2 3)" -eq 1 ]
	# each replica advertises its address to the others (logs and exec routing)
	wait_until 10 replicas_advertised 3
	[ "$(psql -At "$PG_URL" -c 'SELECT addr FROM replicas ORDER BY addr' | tr '\n' ' ')" = \
		"$(printf '%s\n' "${ADDR[@]}" | sort | tr '\n' ' ')" ]
	# a subnet made on one replica is seen on the others
	S=$(IDYL_ADDR=${ADDR[2]} new_subnet --allowed-isolation-class container)
	[ "$(IDYL_ADDR=${ADDR[3]} idyl subnet get "$S" -o json | jq -r .slug)" = "$S" ]
	# hollow nodes on replica 1, a deploy on replica 3: the leader places it
	IDYL_ADDR=${ADDR[1]} start_sim --subnet "$S" --count 2 --runtime-profile containerd-runc
	IDYL_ADDR=${ADDR[3]} idyl deploy nginx:1.27-alpine --name web --subnet "$S" \
		--isolation-class container >/dev/null
	IDYL_ADDR=${ADDR[2]} wait_workload "$S" web '.status.phase == "running"'
	# each change is recorded once, with its answer, in its own transaction
	run env IDYL_ADDR="${ADDR[1]}" idyl audit --subnet "$S" -o json
	[ "$(echo "$output" | jq -c 'map(select(.path | endswith("/nodes") | not) | [.method, .path, .status])')" = \
		"[[\"POST\",\"/v1/subnets/$S/workloads\",201],[\"POST\",\"/v1/subnets\",201]]" ]
	[ "$(echo "$output" | jq -c 'map(select(.path | endswith("/nodes")) | .status)')" = '[201,201]' ]
	[ "$(cat "$BATS_TEST_TMPDIR"/r*.log | grep -c "audit:")" = 0 ]
}

@test "kill -9 of the leader: another leads within 10 s, no acknowledged deploy is lost or placed twice" {
	# the hollow nodes move to another replica after the kill: within a TTL
	NODE_TTL=10
	replicas_up 3
	S=$(IDYL_ADDR=${ADDR[1]} new_subnet --allowed-isolation-class container)
	leader=
	for i in 1 2 3; do is_leader "$i" && leader=$i; done
	[ -n "$leader" ]
	via=$((leader % 3 + 1))
	[ "$via" != "$leader" ]
	# hollow nodes given the leader first: they go on through the next address
	IDYL_ADDR="${ADDR[$leader]},${ADDR[$via]}" start_sim --subnet "$S" --count 4 \
		--runtime-profile containerd-runc
	# a deploy load through a replica that is not the leader
	: >"$BATS_TEST_TMPDIR/acked"
	(
		for j in $(seq 1 60); do
			IDYL_ADDR=${ADDR[$via]} idyl deploy nginx:1.27-alpine --name "w$j" --subnet "$S" \
				--isolation-class container >/dev/null 2>&1 && echo "w$j" >>"$BATS_TEST_TMPDIR/acked"
		done
	) 3>&- &
	load=$!
	sleep 1
	kill -9 "${PID[$leader]}"
	killed_at=$(date +%s%N)
	others=()
	for i in 1 2 3; do [ "$i" = "$leader" ] || others+=("$i"); done
	until [ "$(leaders "${others[@]}")" -eq 1 ]; do
		[ $((($(date +%s%N) - killed_at) / 1000000)) -lt 10000 ] || { echo "no new leader in 10 s" >&2; false; }
		sleep 0.1
	done
	echo "# new leader after $((($(date +%s%N) - killed_at) / 1000000)) ms" >&3
	wait "$load"
	# every acknowledged deploy is there and gets placed, each exactly once
	[ -s "$BATS_TEST_TMPDIR/acked" ]
	q=${others[0]}
	for w in $(cat "$BATS_TEST_TMPDIR/acked"); do
		IDYL_ADDR=${ADDR[$q]} wait_workload "$S" "$w" '.status.phase == "running"'
	done
	n=$(psql -At "$PG_URL" -c "SELECT count(*) FROM workloads WHERE subnet = $S AND node <> ''")
	[ "$n" -eq "$(wc -l <"$BATS_TEST_TMPDIR/acked")" ]
	# each placed once: one Scheduled event per workload, none with two
	[ "$(psql -At "$PG_URL" -c "SELECT count(DISTINCT name) FROM events WHERE subnet = $S AND type = 'Scheduled'")" -eq "$n" ]
	run psql -At "$PG_URL" -c "SELECT name FROM events WHERE subnet = $S AND type = 'Scheduled' GROUP BY name HAVING count(*) > 1"
	[ -z "$output" ]
	# the CLI given the dead replica first answers through the next
	run env IDYL_ADDR="${ADDR[$leader]},${ADDR[$q]}" idyl subnet get "$S" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .slug)" = "$S" ]
	# the killed replica comes back as a follower
	start_replica "$leader"
	[ "$(leaders 1 2 3)" -eq 1 ]
	! is_leader "$leader"
}

# ms_since NS: milliseconds since the date +%s%N value NS.
ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

@test "a change through one replica wakes a watch on another within 1 s; heartbeats to a follower count" {
	replicas_up 2
	leader=1
	is_leader 1 || leader=2
	follower=$((3 - leader))
	S=$(IDYL_ADDR=${ADDR[$leader]} new_subnet --allowed-isolation-class container)
	IDYL_ADDR=${ADDR[$follower]} idyl deploy nginx --name first --subnet "$S" --isolation-class container >/dev/null
	IDYL_ADDR=${ADDR[$follower]} idyl workload list --subnet "$S" --watch -o json \
		>"$BATS_TEST_TMPDIR/watch" 2>&1 3>&- &
	watcher=$!
	REPLICA_PIDS+=("$watcher")
	wait_until 5 grep -q '"first"' "$BATS_TEST_TMPDIR/watch"
	IDYL_ADDR=${ADDR[$leader]} idyl deploy nginx --name late --subnet "$S" --isolation-class container >/dev/null
	t0=$(date +%s%N)
	until grep -q '"late"' "$BATS_TEST_TMPDIR/watch"; do
		[ "$(ms_since "$t0")" -lt 1000 ] || { cat "$BATS_TEST_TMPDIR/watch" >&2; false; }
		sleep 0.02
	done
	echo "# watch on the other replica woke after $(ms_since "$t0") ms" >&3
	# hollow nodes heartbeat to the follower only: past two TTLs the leader
	# still counts them ready, and places on them
	IDYL_ADDR=${ADDR[$follower]} start_sim --subnet "$S" --count 2 --runtime-profile containerd-runc
	sleep 7
	run env IDYL_ADDR="${ADDR[$leader]}" idyl node get --subnet "$S" -o json
	[ "$(echo "$output" | jq -r '[.[].status] | unique | join(",")')" = ready ]
	IDYL_ADDR=${ADDR[$follower]} wait_workload "$S" late '.status.phase == "running"'
}

@test "a hung leader is replaced within the lease timeout and, resumed, no longer leads" {
	replicas_up 2
	leader=1
	is_leader 1 || leader=2
	other=$((3 - leader))
	# hung: its connections stay open, so only the lease's age can free it
	kill -STOP "${PID[$leader]}"
	t0=$(date +%s%N)
	until is_leader "$other"; do
		[ "$(ms_since "$t0")" -lt 10000 ] || { echo "no takeover" >&2; kill -CONT "${PID[$leader]}"; false; }
		sleep 0.2
	done
	echo "# follower took over a hung leader after $(ms_since "$t0") ms" >&3
	kill -CONT "${PID[$leader]}"
	sleep 2
	! is_leader "$leader"
	is_leader "$other"
	grep -q "no longer leading" "$BATS_TEST_TMPDIR/r$leader.log"
	# and placement goes on under the new leader
	S=$(IDYL_ADDR=${ADDR[$leader]} new_subnet --allowed-isolation-class container)
	IDYL_ADDR=${ADDR[$leader]} start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc
	IDYL_ADDR=${ADDR[$leader]} idyl deploy nginx --name after --subnet "$S" --isolation-class container >/dev/null
	IDYL_ADDR=${ADDR[$other]} wait_workload "$S" after '.status.phase == "running"'
}

@test "PostgreSQL restarting under the replicas: they reconnect, one leads again, acknowledged writes stay" {
	replicas_up 2
	S=$(IDYL_ADDR=${ADDR[1]} new_subnet --allowed-isolation-class container)
	IDYL_ADDR=${ADDR[2]} idyl deploy nginx --name before --subnet "$S" --isolation-class container >/dev/null
	"$PG" restart "$PGDIR"
	# writes go on once the connections are made again (the first may fail, unacknowledged)
	wait_until 10 env IDYL_ADDR="${ADDR[2]}" idyl deploy nginx --name after --subnet "$S" \
		--isolation-class container
	wait_until 10 one_leader_of 1 2
	[ "$(IDYL_ADDR=${ADDR[1]} idyl workload list --subnet "$S" -o json | jq -c 'map(.name)')" = '["after","before"]' ]
	# and the leader places again
	IDYL_ADDR=${ADDR[1]} start_sim --subnet "$S" --count 1 --runtime-profile containerd-runc
	IDYL_ADDR=${ADDR[2]} wait_workload "$S" after '.status.phase == "running"'
}

@test "a replica given another secret key than the store's refuses to start" {
	start_replica 1
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BATS_TEST_TMPDIR/other.key"
	echo >>"$BATS_TEST_TMPDIR/other.key"
	chmod 600 "$BATS_TEST_TMPDIR/other.key"
	run idyld --listen 127.0.0.1:0 --data-dir "$BATS_TEST_TMPDIR/r2" --store "$PG_URL" \
		--secret-key-file "$BATS_TEST_TMPDIR/other.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not match the key this store's secrets are sealed with"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/r2/idyld.addr" ]
}
