# Several idyld replicas on one private PostgreSQL for a test file: the
# server (scripts/pg-test-server) runs in a temporary directory for the
# whole file and is stopped by PID; each test starts from an empty
# database, one secret key, and replicas with data directories of their
# own, stopped by PID after it.

PG=$BATS_TEST_DIRNAME/../../scripts/pg-test-server

# setup_file: start_pg starts the server; sets PGDIR and PG_URL.
start_pg() {
	# outside bats' own directory, which the postgres user may not enter
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/idyl-pg.XXXXXX")
	export PGDIR
	PG_URL=$("$PG" start "$PGDIR")
	export PG_URL
}

# teardown_file: stop_pg.
stop_pg() {
	"$PG" stop "$PGDIR"
	rm -rf "$PGDIR"
}

# setup: reset_replicas empties the database and makes the secret key.
reset_replicas() {
	psql -q "$PG_URL" -c "SET client_min_messages = warning" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BATS_TEST_TMPDIR/secret.key"
	echo >>"$BATS_TEST_TMPDIR/secret.key"
	chmod 600 "$BATS_TEST_TMPDIR/secret.key"
	REPLICA_PIDS=()
}

# teardown: stop_replicas stops every replica (and process) in REPLICA_PIDS.
stop_replicas() {
	for p in "${REPLICA_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# start_replica I [ARGS...]: replica I with data in $BATS_TEST_TMPDIR/rI
# (--node-ttl $NODE_TTL, default 3); sets ADDR[I] and PID[I].
start_replica() {
	local i=$1 data=$BATS_TEST_TMPDIR/r$1
	shift
	rm -f "$data/idyld.addr"
	idyld --listen 127.0.0.1:0 --data-dir "$data" --store "$PG_URL" \
		--secret-key-file "$BATS_TEST_TMPDIR/secret.key" --node-ttl "${NODE_TTL:-3}" "$@" \
		>>"$BATS_TEST_TMPDIR/r$i.log" 2>&1 3>&- &
	PID[$i]=$!
	REPLICA_PIDS+=("${PID[$i]}")
	for _ in $(seq 200); do
		[ -s "$data/idyld.addr" ] && break
		sleep 0.05
	done
	[ -s "$data/idyld.addr" ] || { cat "$BATS_TEST_TMPDIR/r$i.log" >&2; return 1; }
	ADDR[$i]=$(cat "$data/idyld.addr")
}

# replicas_up N [IDYLD ARGS...]: replicas 1 to N (start_replica), and
# IDYL_TOKEN exported as the operator credential one of them wrote.
replicas_up() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		start_replica "$i" "$@" || return 1
	done
	IDYL_TOKEN=$(operator_token)
	export IDYL_TOKEN
}

# The operator credential: written by the replica that created it.
operator_token() {
	cat "$BATS_TEST_TMPDIR"/r*/operator.token | head -1
}
