#!/usr/bin/env bats
# Logs and exec across replicas (SPEC §8): two idyld replicas on one
# PostgreSQL and a real Docker node whose agent talks to replica 1 only; the
# CLI talks to replica 2, which forwards the stream to replica 1 (recorded
# in the store as the agent's). Output, exit code and latency as through
# replica 1 itself, one audit record, the record of the agent's replica
# written at a bounded rate, the error when replica 1 is gone, an
# agent that moves to the other replica, and HTTPS between replicas.
load helper
load runtime
load replicas

setup_file() {
	start_pg
	start_runtime docker
}

teardown_file() {
	stop_runtime
	stop_pg
}

setup() {
	reset_replicas
	# the node stays up while its replica is killed and another leads
	export NODE_TTL=30
}

teardown() {
	[ -z "${FOLLOW_PID:-}" ] || kill $FOLLOW_PID 2>/dev/null || true
	end_runtime_test
	stop_replicas
}

now_ms() { date +%s%3N; }

# The address of the replica the store says node n1's agent is connected to.
agent_replica_addr() {
	psql -At "$PG_URL" -c "SELECT r.addr FROM node_replicas n JOIN replicas r ON r.id = n.replica WHERE n.name = 'n1'"
}
agent_on() { [ "$(agent_replica_addr)" = "$1" ]; }

# start_replicas [IDYLD ARGS...]: replicas 1 and 2, the CLI on replica 2, a
# subnet, node n1 whose agent is given replica 1 only (with AGENT_BOTH set:
# replica 1, then 2), and the printer workload w (runtime.bash).
start_replicas() {
	replicas_up 2 "$@"
	IDYL_ADDR=${ADDR[2]}
	export IDYL_ADDR
	SUBNET=$(new_subnet)
	IDYL_ADDR=${ADDR[1]}${AGENT_BOTH:+,${ADDR[2]}} start_node "$SUBNET" n1
	wait_until 10 agent_on "${ADDR[1]}"
	deploy_printer
}

# exec_timed VIA: the exec of SPEC §8 through replica VIA; sets status,
# lines, FIRST (ms to the first line) and TOTAL (ms to the exit).
exec_timed() {
	local start end
	start=$(now_ms)
	run env IDYL_ADDR="${ADDR[$1]}" bash -c "idyl workload exec w --subnet $SUBNET -- sh -c 'echo a; sleep 2; exit 7' |
		while IFS= read -r l; do echo \"\$(date +%s%3N) \$l\"; done; exit \${PIPESTATUS[0]}"
	end=$(now_ms)
	FIRST=$((${lines[0]%% *} - start))
	TOTAL=$((end - start))
}

@test "logs and exec through the replica the agent does not talk to, audited once" {
	start_replicas
	printer_logs_apart
	exec_timed 2
	[ "$status" -eq 7 ]
	[ "${lines[0]#* }" = "a" ]
	[ "${#lines[@]}" -eq 1 ]
	forwarded_first=$FIRST forwarded_total=$TOTAL
	exec_timed 1
	[ "$status" -eq 7 ]
	[ "${lines[0]#* }" = "a" ]
	echo "# exec: a after ${forwarded_first} ms through replica 2 (forwarded), ${FIRST} ms through replica 1 (direct); exit after ${forwarded_total} / ${TOTAL} ms" >&3
	[ "$forwarded_first" -lt 1500 ]
	[ "$forwarded_total" -ge 2000 ]
	# each exec is recorded once, by the replica that served it
	api GET "/v1/audit?subnet=$SUBNET" | head -n 1 >"$BATS_TEST_TMPDIR/audit"
	run jq -c "[.[] | select(.path == \"/v1/subnets/$SUBNET/workloads/w/exec\") | .status]" "$BATS_TEST_TMPDIR/audit"
	[ "$output" = '[101,101]' ]
	# refusals come from the replica asked, with the same message
	provider=$(idyl token create --role provider --subnet "$SUBNET" -o json | jq -r .token)
	run env IDYL_TOKEN="$provider" idyl workload exec w --subnet "$SUBNET" -- true
	[ "$status" -eq 1 ]
	[ "$output" = "error: role provider may not POST /v1/subnets/$SUBNET/workloads/w/exec" ]
	run idyl workload exec w --subnet "$SUBNET" -- sh -c 'echo oops >&2; exit 3'
	[ "$status" -eq 3 ]
	[ "$output" = "oops" ]
	run grep -h "forward" "$BATS_TEST_TMPDIR/r2.log"
	[ -z "$output" ]
}

@test "logs --follow through the other replica brings each line within 1 s, as directly" {
	start_replicas
	for via in 1 2; do
		IDYL_ADDR=${ADDR[$via]} idyl workload logs w --subnet "$SUBNET" --follow 2>/dev/null |
			while IFS= read -r l; do echo "$(now_ms) $l"; done >"$BATS_TEST_TMPDIR/follow$via" &
		FOLLOW_PID="${FOLLOW_PID:-} $!"
		wait_until 10 grep -q three "$BATS_TEST_TMPDIR/follow$via"
	done
	for i in 1 2 3; do
		# from before the exec that writes the line (through replica 1)
		written=$(now_ms)
		IDYL_ADDR=${ADDR[1]} idyl workload exec w --subnet "$SUBNET" -- sh -c "echo marker-$i >/tmp/say"
		for via in 1 2; do
			wait_until 5 grep -q "marker-$i" "$BATS_TEST_TMPDIR/follow$via"
			seen[via]=$(awk -v m="marker-$i" '$2 == m {print $1}' "$BATS_TEST_TMPDIR/follow$via")
		done
		echo "# follow line $i: $((seen[2] - written)) ms through replica 2 (forwarded), $((seen[1] - written)) ms through replica 1 (direct)" >&3
		[ $((seen[2] - written)) -lt 1000 ]
	done
	kill $FOLLOW_PID 2>/dev/null || true
	FOLLOW_PID=
}

@test "the agent's replica is written when it changes or every third of a TTL, not at each poll" {
	start_replicas
	# every write to the table, as the server sees it (an upsert fires the
	# INSERT trigger once, whether it inserts or updates)
	psql -q "$PG_URL" >/dev/null <<-'SQL'
		CREATE TABLE replica_writes(at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE FUNCTION note_replica_write() RETURNS trigger LANGUAGE plpgsql AS
		  $$ BEGIN INSERT INTO replica_writes DEFAULT VALUES; RETURN NEW; END $$;
		CREATE TRIGGER note BEFORE INSERT ON node_replicas
		  FOR EACH ROW EXECUTE FUNCTION note_replica_write();
	SQL
	start=$(now_ms)
	# each exec is offered on the agent's long-poll, which answers and polls again
	for i in $(seq 8); do
		run env IDYL_ADDR="${ADDR[1]}" idyl workload exec w --subnet "$SUBNET" -- true
		[ "$status" -eq 0 ]
	done
	elapsed=$(($(now_ms) - start))
	writes=$(psql -At "$PG_URL" -c 'SELECT count(*) FROM replica_writes')
	echo "# 8 polls answered in $elapsed ms: $writes write(s) of the agent's replica" >&3
	# no change to record: at most the refreshes, one per 10 s (--node-ttl 30)
	[ "$writes" -le $((1 + elapsed / 10000)) ]
}

@test "the agent's replica killed: the other answers at once that it does not answer" {
	start_replicas
	rid=$(psql -At "$PG_URL" -c "SELECT replica FROM node_replicas WHERE name = 'n1'")
	[ -n "$rid" ]
	kill -9 "${PID[1]}"
	wait "${PID[1]}" 2>/dev/null || true
	start=$(now_ms)
	run idyl workload exec w --subnet "$SUBNET" -- true
	echo "# refused $(($(now_ms) - start)) ms after the kill" >&3
	[ "$status" -eq 1 ]
	[ "$output" = "error: node \"n1\" is connected to replica $rid, which does not answer" ]
	[ $(($(now_ms) - start)) -lt 5000 ]
	run grep -c "forward /v1/subnets/$SUBNET/workloads/w/exec to replica $rid" "$BATS_TEST_TMPDIR/r2.log"
	[ "$output" = 1 ]
	# once it has not advertised itself for 15 s it is not even tried
	wait_until 25 sh -c "[ \$(psql -At '$PG_URL' -c \"SELECT count(*) FROM replicas WHERE id = '$rid' AND seen_at < now() - interval '16 seconds'\") = 1 ]"
	run idyl workload logs w --subnet "$SUBNET"
	[ "$status" -eq 1 ]
	[ "$output" = "error: node \"n1\" is connected to replica $rid, which does not answer" ]
	run grep -c "forward /v1/subnets/$SUBNET/workloads/w/logs" "$BATS_TEST_TMPDIR/r2.log"
	[ "$output" = 0 ]
}

@test "an agent that moves to the other replica is found there" {
	AGENT_BOTH=1 start_replicas
	kill -9 "${PID[1]}"
	wait "${PID[1]}" 2>/dev/null || true
	# the agent's next poll goes to replica 2, which records itself at once
	wait_until 15 agent_on "${ADDR[2]}"
	run idyl workload exec w --subnet "$SUBNET" -- sh -c 'echo here; exit 4'
	[ "$status" -eq 4 ]
	[ "$output" = "here" ]
	# and a replica started since forwards to it
	start_replica 3
	run env IDYL_ADDR="${ADDR[3]}" idyl workload exec w --subnet "$SUBNET" -- sh -c 'echo there; exit 5'
	[ "$status" -eq 5 ]
	[ "$output" = "there" ]
}

@test "replicas forward over HTTPS, verifying each other's certificate" {
	make_test_pki
	export IDYL_CA=$PKI/ca.pem
	start_replicas --tls-cert "$PKI/server.pem" --tls-key "$PKI/server.key"
	[[ "${ADDR[1]}" == https://* ]]
	run idyl workload exec w --subnet "$SUBNET" -- sh -c 'echo a; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = "a" ]
	run sh -c "idyl workload logs w --subnet $SUBNET --tail 1 2>/dev/null"
	[ "$output" = "three" ]
	# a replica whose chain does not verify replica 1's certificate does not forward to it
	PKI=$BATS_TEST_TMPDIR/pki2 make_test_pki
	start_replica 3 --tls-cert "$BATS_TEST_TMPDIR/pki2/server.pem" --tls-key "$BATS_TEST_TMPDIR/pki2/server.key"
	rid=$(psql -At "$PG_URL" -c "SELECT replica FROM node_replicas WHERE name = 'n1'")
	run env IDYL_ADDR="${ADDR[3]}" IDYL_CA="$BATS_TEST_TMPDIR/pki2/ca.pem" idyl workload exec w --subnet "$SUBNET" -- true
	[ "$status" -eq 1 ]
	[ "$output" = "error: node \"n1\" is connected to replica $rid, which does not answer" ]
	grep -q "forward /v1/subnets/$SUBNET/workloads/w/exec to replica $rid: .*certificate" "$BATS_TEST_TMPDIR/r3.log"
}
