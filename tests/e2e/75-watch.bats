#!/usr/bin/env bats
# --watch on workload get|list: the table, then a line per change, written
# as it happens into a file; -o json one object per line; ends when the
# watched workload goes.
load helper

setup() { start_idyld_with_subnet; }

teardown() { end_hollow_test; }

lines_matching() {
	grep -cE "$2" "$1" || true
}

@test "workload list --watch prints the table, then a line per change, into a file" {
	idyl deploy nginx --name a --subnet "$S" >/dev/null
	watch_bg "$BATS_TEST_TMPDIR/list" workload list --subnet "$S" --watch
	wait_until 5 grep -q '^a ' "$BATS_TEST_TMPDIR/list"
	[ "$(head -1 "$BATS_TEST_TMPDIR/list")" = "NAME  IMAGE  CLASS      PHASE    NODE  AGE" ]
	[[ "$(sed -n 2p "$BATS_TEST_TMPDIR/list")" =~ ^a\ +nginx\ +container\ +pending\ +- ]]
	start_sim --subnet "$S" --count 1 --runtime-profile docker
	wait_until 10 grep -qE '^a +nginx +container +running +sim-docker-0' "$BATS_TEST_TMPDIR/list"
	idyl deploy nginx --name b --subnet "$S" >/dev/null
	wait_until 10 grep -qE '^b +nginx +container +running' "$BATS_TEST_TMPDIR/list"
	idyl workload delete a --subnet "$S" >/dev/null
	wait_until 10 grep -qE '^a +nginx +container +deleted' "$BATS_TEST_TMPDIR/list"
	cat "$BATS_TEST_TMPDIR/list"
	# one header, and a line only when something changed
	[ "$(lines_matching "$BATS_TEST_TMPDIR/list" '^NAME')" = 1 ]
	[ "$(lines_matching "$BATS_TEST_TMPDIR/list" '^a +nginx +container +running')" = 1 ]
}

@test "workload get --watch -o json: one object per line, ends when the workload goes" {
	idyl deploy nginx --name a --subnet "$S" >/dev/null
	watch_bg "$BATS_TEST_TMPDIR/get" workload get a --subnet "$S" --watch -o json
	pid=${WATCH_PIDS##* }
	wait_until 5 grep -q '"name":"a"' "$BATS_TEST_TMPDIR/get"
	start_sim --subnet "$S" --count 1 --runtime-profile docker
	wait_until 10 grep -q '"phase":"running"' "$BATS_TEST_TMPDIR/get"
	grep '^{' "$BATS_TEST_TMPDIR/get" | while read -r line; do
		echo "$line" | jq -e '.name == "a"' >/dev/null
	done
	[ "$(grep '^{' "$BATS_TEST_TMPDIR/get" | head -1 | jq -r .status.phase)" = pending ]
	idyl workload delete a --subnet "$S" >/dev/null
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(tail -1 "$BATS_TEST_TMPDIR/get")" = "error: workload \"a\" not found in subnet \"$S\"" ]
}

@test "--watch with -o yaml is a usage error; the list watch API answers {version, workloads}" {
	run --separate-stderr idyl workload list --subnet "$S" --watch -o yaml
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "error: --watch prints a table or json lines" ]
	run api GET "/v1/subnets/$S/workloads?watch="
	[ "${lines[1]}" = 200 ]
	[ "$(echo "${lines[0]}" | jq -c .workloads)" = "[]" ]
	v=$(echo "${lines[0]}" | jq -r .version)
	start=$(date +%s%N)
	run api GET "/v1/subnets/$S/workloads?watch=$v&wait=1"
	[ "$(( ($(date +%s%N) - start) / 1000000 ))" -ge 900 ]
	[ "$(echo "${lines[0]}" | jq -r .version)" = "$v" ]
	run api GET "/v1/subnets/999999999999/workloads?watch="
	[ "${lines[1]}" = 404 ]
}
