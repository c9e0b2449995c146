#!/usr/bin/env bats
# Node liveness: heartbeats that change nothing the store keeps are held in
# memory (the node's row is not rewritten), heartbeats that change something
# are stored, and after a restart of idyld every node gets a full
# --node-ttl before it may be declared down (SPEC §9).
load helper

DATA=
setup() {
	DATA=$BATS_TEST_TMPDIR/data
	start_idyld "$DATA" --node-ttl 2
	S=$(new_subnet)
	prov=$(idyl token create --role provider -o json | jq -r .token)
	body='{"name":"n1","platform":"linux/amd64","runtime":{"profile":"docker","ready":true},"capacity":{"cpu":1,"memory":"1Gi","gpus":0}}'
	CRED=$(curl -s -H "Authorization: Bearer $prov" -H 'Content-Type: application/json' \
		--data-binary "$body" "$IDYL_ADDR/v1/subnets/$S/nodes" | jq -r .credential)
}

teardown() {
	stop_idyld
}

heartbeat() {
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CRED" \
		-H 'Content-Type: application/json' --data-binary "$1" \
		"$IDYL_ADDR/v1/subnets/$S/nodes/n1/heartbeat"
}

stored() {
	sqlite3 "$DATA/idyl.db" "SELECT $1 FROM nodes WHERE name = 'n1'"
}

node_field() {
	idyl node get n1 --subnet "$S" -o json | jq -r "$1"
}

node_status_is() {
	[ "$(node_field .status)" = "$1" ]
}

@test "quiet heartbeats keep a node ready past the TTL without rewriting it" {
	joined=$(stored last_heartbeat)
	for _ in 1 2 3 4 5 6; do
		[ "$(heartbeat '{}')" = 200 ]
		sleep 0.5
	done
	# 3 s after the join, past the 2 s TTL: still ready, heard from just now
	[ "$(node_field .status)" = ready ]
	[ "$(stored last_heartbeat)" = "$joined" ]
	shown=$(node_field .lastHeartbeat)
	[ "$(date -d "$shown" +%s)" -ge $((joined / 1000 + 2)) ]
	# a heartbeat that changes readiness is stored, with its time
	[ "$(heartbeat '{"runtime":{"ready":false,"reason":"disk full"}}')" = 200 ]
	[ "$(stored runtime_ready)" = 0 ]
	[ "$(stored reason)" = "disk full" ]
	[ "$(stored last_heartbeat)" -gt $((joined + 2000)) ]
	[ "$(node_field .status)" = not-ready ]
}

@test "after a restart every node gets a full --node-ttl before it is declared down" {
	[ "$(heartbeat '{}')" = 200 ]
	stop_idyld
	sleep 3 # longer than the TTL with nobody listening
	start_idyld "$DATA" --node-ttl 2
	[ "$(node_field .status)" = ready ]
	sleep 1
	[ "$(node_field .status)" = ready ]
	# no heartbeat since: down once the TTL from the restart has passed
	wait_until 5 node_status_is down
	[ "$(stored down)" = 1 ]
}
