#!/usr/bin/env bats
# idyl workload wait: follows the API watch (a long-poll on the workload's
# version) until the phase is reached; exit 0, 1 at the time-out, 3 when the
# workload does not exist, 2 for usage errors.
load helper

setup() { start_idyld_with_subnet; }

teardown() { end_hollow_test; }

watch_requests() {
	curl -s -H "Authorization: Bearer $IDYL_TOKEN" "$IDYL_ADDR/metrics" |
		sed -n 's|^idyl_http_requests_total{route="/v1/subnets/{slug}/workloads/{name}/watch",code="200"} ||p'
}

@test "wait returns 0 as soon as the phase is reached, on a few watch answers, not polling" {
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	# no node yet: pending until the hollow nodes join 2 s from now
	(sleep 2 && exec idyl-sim nodes --subnet "$S" --count 1 --runtime-profile docker) \
		>"$BATS_TEST_TMPDIR/sim.out" 2>&1 3>&- &
	SIM_PIDS=$!
	start=$(date +%s%N)
	run idyl workload wait web --subnet "$S" --for running --timeout 20s
	end=$(date +%s%N)
	[ "$status" -eq 0 ]
	[ "$output" = 'workload "web" is running' ]
	[ "$(idyl workload get web --subnet "$S" -o json | jq -r .status.phase)" = running ]
	elapsed_ms=$(( (end - start) / 1000000 ))
	echo "waited ${elapsed_ms} ms; watch answers: $(watch_requests)"
	[ "$elapsed_ms" -ge 1500 ]
	[ "$elapsed_ms" -lt 10000 ]
	# one answer per change it saw (pending, scheduled, running...), not one per poll
	[ "$(watch_requests)" -le 8 ]
	# already there: at once
	run idyl workload wait web --subnet "$S" --for running
	[ "$status" -eq 0 ]
}

@test "wait exits 1 at the time-out, naming the phase it is in" {
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	start=$(date +%s%N)
	run --separate-stderr idyl workload wait web --subnet "$S" --for running --timeout 1500ms
	end=$(date +%s%N)
	[ "$status" -eq 1 ]
	[ "$stderr" = 'error: timed out after 1500ms waiting for workload "web" to be running (it is pending)' ]
	elapsed_ms=$(( (end - start) / 1000000 ))
	[ "$elapsed_ms" -ge 1400 ]
	[ "$elapsed_ms" -lt 5000 ]
}

@test "wait exits 3 when the workload does not exist, or is deleted while waited on" {
	run --separate-stderr idyl workload wait nope --subnet "$S" --for running
	[ "$status" -eq 3 ]
	[ "$stderr" = "error: workload \"nope\" not found in subnet \"$S\"" ]
	run --separate-stderr idyl workload wait web --subnet 999999999999 --for running
	[ "$status" -eq 3 ]
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	( sleep 1; idyl workload delete web --subnet "$S" >/dev/null ) 3>&- &
	run --separate-stderr idyl workload wait web --subnet "$S" --for running --timeout 20s
	[ "$status" -eq 3 ]
	[ "$stderr" = "error: workload \"web\" not found in subnet \"$S\"" ]
}

@test "wait: usage errors exit 2" {
	run --separate-stderr idyl workload wait web --subnet "$S"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "error: --for is required" ]
	run --separate-stderr idyl workload wait web --subnet "$S" --for sleeping
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'error: invalid --for "sleeping": want a phase (awaiting-approval, pending, scheduled, running, exited, failed, rejected, lost or stopped)' ]
	run --separate-stderr idyl workload wait web --subnet "$S" --for running --timeout soon
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'error: invalid --timeout "soon": want a duration such as 90s, 5m or 500ms, at most 24h' ]
	run --separate-stderr idyl workload wait --subnet "$S" --for running
	[ "$status" -eq 2 ]
}

@test "the watch API: version unchanged long-polls, a change answers, wait is bounded" {
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	run api GET "/v1/subnets/$S/workloads/web/watch"
	[ "${lines[1]}" = 200 ]
	v=$(echo "${lines[0]}" | jq -r .version)
	[ "$(echo "${lines[0]}" | jq -r .workload.name)" = web ]
	# nothing changes: the answer comes at the end of the wait, same version
	start=$(date +%s%N)
	run api GET "/v1/subnets/$S/workloads/web/watch?version=$v&wait=1"
	end=$(date +%s%N)
	[ "$(( (end - start) / 1000000 ))" -ge 900 ]
	[ "$(echo "${lines[0]}" | jq -r .version)" = "$v" ]
	# a change (a new revision) answers at once with a new version
	( sleep 0.5; idyl deploy nginx --name web --env A=1 --subnet "$S" >/dev/null ) 3>&- &
	start=$(date +%s%N)
	run api GET "/v1/subnets/$S/workloads/web/watch?version=$v&wait=30"
	end=$(date +%s%N)
	[ "$(( (end - start) / 1000000 ))" -lt 5000 ]
	[ "$(echo "${lines[0]}" | jq -r .version)" != "$v" ]
	[ "$(echo "${lines[0]}" | jq -r .workload.spec.env.A)" = 1 ]
	run api GET "/v1/subnets/$S/workloads/web/watch?version=$v&wait=61"
	[ "${lines[1]}" = 400 ]
}
