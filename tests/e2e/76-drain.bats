#!/usr/bin/env bats
# Node eligibility and drain on hollow nodes (SPEC 8): an ineligible node
# gets no new work (node_ineligible, explained), what runs there stays; a
# drain moves the running workloads to other nodes, a bounded number at a
# time, each placed again under the policy in force; the node stays
# ineligible until --enable. Also -o name and -o wide, the reason in
# `workload get`, and `node get --watch` printing a change.
load helper

setup() { start_idyld_with_subnet --node-ttl 3; }

teardown() { end_hollow_test; }

node_field() {
	idyl node get "$1" --subnet "$S" -o json | jq -r "$2"
}

not_draining() {
	[ "$(node_field "$1" .draining)" = false ]
}

wait_running() {
	wait_workload "$S" "$1" '.status.phase == "running"'
}

running_on() {
	idyl workload list --subnet "$S" -o json | jq -r --arg n "$1" \
		'[.[] | select(.status.node == $n and .status.phase == "running")] | length'
}

@test "eligibility --disable: no new work there, what runs stays; --enable takes work again" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix a
	idyl deploy nginx --name before --subnet "$S" >/dev/null
	wait_running before
	run idyl node eligibility a-0 --subnet "$S" --disable
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^a-0\ +ready,ineligible\ +admitted\ +docker ]]
	[ "$(node_field a-0 '[.eligibility, .draining] | @json')" = '["ineligible",false]' ]
	idyl deploy nginx --name after --subnet "$S" >/dev/null
	sleep 1.5
	[ "$(idyl workload get after --subnet "$S" -o json | jq -r .status.phase)" = pending ]
	[ "$(idyl workload get before --subnet "$S" -o json | jq -r '.status | [.phase, .node] | @json')" = '["running","a-0"]' ]
	# the reason shows in the table; explain names the filter and the way out
	run idyl workload get after --subnet "$S"
	[ "${lines[0]}" = "NAME   IMAGE  CLASS      PHASE    NODE  AGE  REASON" ]
	[[ "${lines[1]}" =~ ^after\ +nginx\ +container\ +pending\ +-\ +[0-9]+s\ +"no available nodes in subnet $S support requested isolation class container"$ ]]
	run idyl workload explain after --subnet "$S" -o json
	[ "$(echo "$output" | jq -c '.filters')" = '[{"code":"node_ineligible","removed":1,"nodes":["a-0"]}]' ]
	[ "$(echo "$output" | jq -r .hint)" = "the nodes are ineligible (an operator disabled them, or they drain): idyl node eligibility NAME --enable --subnet $S" ]
	run idyl node eligibility a-0 --subnet "$S" --enable -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .eligibility)" = eligible ]
	wait_running after
}

@test "eligibility: usage errors and unknown nodes change nothing" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix a
	run --separate-stderr idyl node eligibility a-0 --subnet "$S"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "error: one of --enable or --disable is required" ]
	run --separate-stderr idyl node eligibility a-0 --subnet "$S" --enable --disable
	[ "$status" -eq 2 ]
	run --separate-stderr idyl node eligibility nope --subnet "$S" --disable
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: node \"nope\" not found in subnet \"$S\"" ]
	run --separate-stderr idyl node drain a-0 --subnet "$S" --deadline soon
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'error: invalid --deadline "soon": want a duration such as 90s, 5m or 500ms, at most 24h' ]
	[ "$(node_field a-0 .eligibility)" = eligible ]
	run api POST "/v1/subnets/$S/nodes/a-0/eligibility" '{"eligible":"no"}'
	[ "${lines[1]}" = 400 ]
	[ "$(echo "${lines[0]}" | jq -r .error.message)" = 'field "eligible" is required: true or false' ]
	[ "$(node_field a-0 .eligibility)" = eligible ]
}

@test "drain moves running workloads to other nodes, a bounded number at a time; the node stays ineligible" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix a
	for w in w1 w2 w3 w4 w5; do idyl deploy nginx --name $w --subnet "$S" >/dev/null; done
	for w in w1 w2 w3 w4 w5; do wait_running $w; done
	start_sim --subnet "$S" --count 2 --runtime-profile docker --name-prefix b
	[ "$(running_on a-0)" = 5 ]
	watch_bg "$BATS_TEST_TMPDIR/moves" workload list --subnet "$S" --watch -o json
	wait_until 5 grep -q '"name":"w5"' "$BATS_TEST_TMPDIR/moves"
	run --separate-stderr idyl node drain a-0 --subnet "$S" --deadline 60s
	[ "$status" -eq 0 ]
	[ "$output" = 'node "a-0" drained' ]
	[ "$stderr" = 'node "a-0" is ineligible; moving its workloads' ]
	[ "$(running_on a-0)" = 0 ]
	[ "$(( $(running_on b-0) + $(running_on b-1) ))" = 5 ]
	[ "$(node_field a-0 '[.eligibility, .draining, .allocated.cpu] | @json')" = '["ineligible",false,0]' ]
	run idyl node get a-0 --subnet "$S"
	[[ "${lines[1]}" =~ ^a-0\ +ready,ineligible ]]
	# each was stopped there and placed again: its events say so
	run idyl workload events w1 --subnet "$S" -o json
	[ "$(echo "$output" | jq -r '[.[].type] | join(",")')" = Admitted,Scheduled,Running,Migrated,Scheduled,Running ]
	[ "$(echo "$output" | jq -r '.[3].message')" = "node a-0 is draining: moved to be placed again" ]
	# never more than two on their way at once (moved off, not yet running),
	# replaying the list's watch line by line
	sleep 0.5
	max=$(grep '^{' "$BATS_TEST_TMPDIR/moves" | jq -s 'reduce .[] as $o ({s: {}, m: 0};
		.s[$o.name] = $o.status.phase |
		.m = ([.m, ([.s[] | select(. == "pending" or . == "scheduled")] | length)] | max)) | .m')
	[ "$max" -ge 1 ] && [ "$max" -le 2 ]
	# new work does not go to the drained node
	idyl deploy nginx --name later --subnet "$S" >/dev/null
	wait_running later
	[ "$(idyl workload get later --subnet "$S" -o json | jq -r .status.node)" != a-0 ]
	idyl node eligibility a-0 --subnet "$S" --enable >/dev/null
	[ "$(node_field a-0 .eligibility)" = eligible ]
}

@test "drain without room elsewhere exits 1 at the deadline; the node goes on draining" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix a
	idyl deploy nginx --name w1 --subnet "$S" >/dev/null
	wait_running w1
	run --separate-stderr idyl node drain a-0 --subnet "$S" --deadline 2s
	[ "$status" -eq 1 ]
	[ "${stderr_lines[1]}" = "error: node \"a-0\" is still draining after 2s: its workloads go on moving (idyl node get a-0 --subnet S shows it)" ]
	[ "$(node_field a-0 '[.eligibility, .draining] | @json')" = '["ineligible",true]' ]
	run idyl node get --subnet "$S"
	[[ "${lines[1]}" =~ ^a-0\ +ready,draining ]]
	[ "$(idyl workload get w1 --subnet "$S" -o json | jq -r .status.phase)" = pending ]
	# room appears: the drain finishes by itself
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix b
	wait_running w1
	wait_until 10 not_draining a-0
	[ "$(node_field a-0 .eligibility)" = ineligible ]
}

@test "drain places again under the policy in force: a class the policy no longer allows is rejected" {
	S=$(new_subnet --allowed-isolation-class container,microvm --default-isolation-class container)
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix a
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix b
	idyl node eligibility b-0 --subnet "$S" --disable >/dev/null
	idyl deploy nginx --name c1 --subnet "$S" >/dev/null
	wait_running c1
	idyl node eligibility b-0 --subnet "$S" --enable >/dev/null
	idyl subnet edit "$S" --allowed-isolation-class microvm --default-isolation-class microvm 2>/dev/null >/dev/null
	# still running: an edit never evicts
	[ "$(idyl workload get c1 --subnet "$S" -o json | jq -r .status.phase)" = running ]
	run idyl node drain a-0 --subnet "$S" --deadline 20s
	[ "$status" -eq 0 ]
	[ "$(idyl workload get c1 --subnet "$S" -o json | jq -r '.status | [.phase, .message] | @json')" = \
		'["rejected","isolation.class \"container\" is not allowed by subnet runtimePolicy"]' ]
}

@test "a drained node with nothing on it drains at once; revoke stays the immediate eviction" {
	start_sim --subnet "$S" --count 2 --runtime-profile docker --name-prefix a
	run idyl node drain a-1 --subnet "$S"
	[ "$status" -eq 0 ]
	[ "$output" = 'node "a-1" drained' ]
	[ "$(node_field a-1 '[.eligibility, .draining] | @json')" = '["ineligible",false]' ]
	idyl node eligibility a-1 --subnet "$S" --enable >/dev/null
	idyl node eligibility a-0 --subnet "$S" --disable >/dev/null
	idyl deploy nginx --name w --subnet "$S" >/dev/null
	wait_running w
	idyl node eligibility a-0 --subnet "$S" --enable >/dev/null
	idyl node revoke a-1 --subnet "$S" >/dev/null
	run idyl workload events w --subnet "$S" -o json
	[ "$(echo "$output" | jq -r '.[3] | [.type, .message] | @json')" = '["Lost","node a-1 was revoked"]' ]
}

@test "-o name and -o wide on get and list commands" {
	start_sim --subnet "$S" --count 2 --runtime-profile docker --name-prefix a
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	idyl deploy redis --name cache --subnet "$S" >/dev/null
	wait_running web
	run idyl workload list --subnet "$S" -o name
	[ "$status" -eq 0 ]
	[ "$output" = "cache
web" ]
	run idyl workload get web --subnet "$S" -o name
	[ "$output" = web ]
	run idyl node get --subnet "$S" -o name
	[ "$output" = "a-0
a-1" ]
	run idyl subnet list -o name
	[ "$output" = "$S" ]
	run idyl workload list --subnet "$S" -o wide
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^NAME\ +IMAGE\ +CLASS\ +PHASE\ +NODE\ +AGE\ +REVISION\ +RESTARTS\ +PROFILE\ +REASON$ ]]
	[[ "${lines[2]}" =~ ^web\ +nginx\ +container\ +running\ +a-[01]\ +[0-9]+s\ +1\ +0\ +docker\  ]]
	run idyl node get --subnet "$S" -o wide
	[[ "${lines[0]}" =~ ^NAME\ +STATUS\ +ADMISSION\ +PROFILE\ +CLASS\ +VMM\ +PLATFORM\ +CPU\ +MEMORY\ +GPUS\ +HANDLER\ +DEVICES\ +SIMULATED\ +HEARTBEAT\ +REASON$ ]]
	[[ "${lines[1]}" =~ ^a-0\ +ready\ +admitted\ +docker\ +container\ +-\ +linux/amd64\ .*\ runc\ +-\ +true\ +20[0-9-]+T ]]
	run --separate-stderr idyl workload list --subnet "$S" -o short
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'error: invalid --output "short": valid values are table, wide, name, yaml, json' ]
}

@test "node get --watch prints the table, then a line when a node changes" {
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix a
	watch_bg "$BATS_TEST_TMPDIR/watch" node get --subnet "$S" --watch
	wait_until 5 grep -q '^a-0 ' "$BATS_TEST_TMPDIR/watch"
	[[ "$(head -1 "$BATS_TEST_TMPDIR/watch")" =~ ^NAME\ +STATUS ]]
	sleep 2.5 # heartbeats alone print nothing
	[ "$(wc -l <"$BATS_TEST_TMPDIR/watch")" = 2 ]
	idyl node eligibility a-0 --subnet "$S" --disable >/dev/null
	wait_until 5 grep -qE '^a-0 +ready,ineligible' "$BATS_TEST_TMPDIR/watch"
	# one node: -o json lines from its own watch
	watch_bg "$BATS_TEST_TMPDIR/one" node get a-0 --subnet "$S" --watch -o json
	wait_until 5 grep -q '"name":"a-0"' "$BATS_TEST_TMPDIR/one"
	stop_sims
	wait_until 10 grep -q '"status":"down"' "$BATS_TEST_TMPDIR/one"
	wait_until 10 grep -qE '^a-0 +down,ineligible' "$BATS_TEST_TMPDIR/watch"
	cat "$BATS_TEST_TMPDIR/watch"
	[ "$(grep -c '^NAME' "$BATS_TEST_TMPDIR/watch")" = 1 ]
}
