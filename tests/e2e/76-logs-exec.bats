#!/usr/bin/env bats
# idyl workload logs and exec on a real container runtime, through the
# control plane: the agent opens the stream to idyld (the node has no inbound
# port). On Docker through the Engine API; on containerd (runc) through CRI,
# where the agent reads the container's CRI log files and runs CRI Exec over
# containerd's streaming server (WebSocket, v4.channel.k8s.io; SPDY with -i).
# Output, --tail, --follow latency, --previous after a restart, exec's
# streaming and exit code, exec -i's stdin and its end, an exec stopped in
# the workload when its CLI goes (and only that one), who may, and the audit
# record.
#
# One file for both runtimes (IDYL_E2E_RUNTIME, see runtime.bash), which
# tests/CMakeLists.txt runs once for each, under these ctest names:
# ctest: 76-logs-exec-docker docker
# ctest: 77-logs-exec-containerd containerd
load helper
load runtime

setup_file() { start_runtime; }
teardown_file() { stop_runtime; }

setup() {
	start_idyld
	SUBNET=$(new_subnet)
	start_node "$SUBNET" n1
}

teardown() {
	[ -z "${FOLLOW_PID:-}" ] || kill "$FOLLOW_PID" 2>/dev/null || true
	[ -z "${EXEC_PIDS:-}" ] || kill $EXEC_PIDS 2>/dev/null || true
	stop_sims
	end_runtime_test
}

phase_is() { [ "$(idyl workload get "$1" --subnet "$SUBNET" -o json | jq -r .status.phase)" = "$2" ]; }
restarted() { [ "$(idyl workload get "$1" --subnet "$SUBNET" -o json | jq -r .status.restarts)" -ge 1 ]; }
now_ms() { date +%s%3N; }

# Deploys w running only sleep 3600, for the exec tests that count its processes.
deploy_sleeper() {
	idyl deploy idyl/busybox:latest --name w --subnet "$SUBNET" -- sleep 3600 >/dev/null
	wait_until 30 phase_is w running
}
restarts() { idyl workload get w --subnet "$SUBNET" -o json | jq -r .status.restarts; }
# the processes in w whose command line is exactly "$1"
procs_in_w() {
	idyl workload exec w --subnet "$SUBNET" -- sh -c \
		'for p in /proc/[0-9]*; do [ "$(tr "\0" " " <$p/cmdline)" = "$1 " ] && echo ${p#/proc/}; done; true' \
		-- "$1"
}
none_in_w() { [ -z "$(procs_in_w "$1")" ]; }
# exec_started OUT SCRIPT: runs sh -c "echo started; SCRIPT" in w with its
# output in OUT, its CLI in the background (its pid in EXEC_PID), and waits
# for it to start.
exec_started() {
	idyl workload exec w --subnet "$SUBNET" -- sh -c "echo started; $2" >"$1" 2>&1 &
	EXEC_PID=$!
	EXEC_PIDS="${EXEC_PIDS:-} $EXEC_PID"
	wait_until 10 grep -q started "$1"
}

@test "logs prints the workload's stdout and stderr apart" {
	deploy_printer
	printer_logs_apart
}

@test "logs --tail prints only the last lines" {
	deploy_printer
	run sh -c "idyl workload logs w --subnet $SUBNET --tail 1 2>/dev/null"
	[ "$status" -eq 0 ]
	[ "$output" = "three" ]
	run sh -c "idyl workload logs w --subnet $SUBNET --tail 2 2>&1"
	[ "$output" = "$(printf 'two\nthree')" ]
	run sh -c "idyl workload logs w --subnet $SUBNET --tail 0 2>&1"
	[ -z "$output" ]
	run idyl workload logs w --subnet "$SUBNET" --tail x
	[ "$status" -eq 2 ]
	[[ "$output" == *'invalid --tail "x"'* ]]
}

@test "logs --follow brings each new line within 1 s, through a pipe" {
	deploy_printer
	# each line read is stamped with the time it reached the pipe's end
	idyl workload logs w --subnet "$SUBNET" --follow 2>/dev/null |
		while IFS= read -r l; do echo "$(now_ms) $l"; done >"$BATS_TEST_TMPDIR/follow" &
	FOLLOW_PID=$!
	wait_until 10 grep -q three "$BATS_TEST_TMPDIR/follow"
	for i in 1 2 3; do
		idyl workload exec w --subnet "$SUBNET" -- sh -c "echo marker-$i >/tmp/say"
		written=$(now_ms)
		wait_until 5 grep -q "marker-$i" "$BATS_TEST_TMPDIR/follow"
		seen=$(awk -v m="marker-$i" '$2 == m {print $1}' "$BATS_TEST_TMPDIR/follow")
		echo "line $i: $((seen - written)) ms after the exec that wrote it returned" >&3
		[ $((seen - written)) -lt 1000 ]
	done
}

@test "exec prints output at once and exits with the command's code" {
	deploy_printer
	start=$(now_ms)
	run bash -c "idyl workload exec w --subnet $SUBNET -- sh -c 'echo a; sleep 2; exit 7' |
		while IFS= read -r l; do echo \"\$(date +%s%3N) \$l\"; done; exit \${PIPESTATUS[0]}"
	end=$(now_ms)
	[ "$status" -eq 7 ]
	[ "${lines[0]#* }" = "a" ]
	first=${lines[0]%% *}
	echo "a after $((first - start)) ms, exit after $((end - start)) ms" >&3
	[ $((first - start)) -lt 1500 ]
	[ $((end - start)) -ge 2000 ]
	run idyl workload exec w --subnet "$SUBNET" -- true
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run idyl workload exec w --subnet "$SUBNET" -- sh -c 'echo oops >&2; exit 3'
	[ "$status" -eq 3 ]
	[ "$output" = "oops" ]
}

@test "logs --previous prints the run before the restart only" {
	idyl deploy idyl/busybox:latest --name r --subnet "$SUBNET" -- \
		sh -c 'echo run $(cat /proc/sys/kernel/random/uuid); sleep 6; exit 3' >/dev/null
	wait_until 30 phase_is r running
	run idyl workload logs r --subnet "$SUBNET" --previous
	[ "$status" -eq 1 ]
	[ "$output" = 'error: workload "r" has no previous run' ]
	wait_until 30 restarted r
	wait_until 30 phase_is r running
	run idyl workload logs r --subnet "$SUBNET" --previous
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "run "* ]]
	previous=${lines[0]}
	run idyl workload logs r --subnet "$SUBNET"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "run "* ]]
	[ "${lines[0]}" != "$previous" ]
}

@test "authors may exec, providers may not, and every exec is audited" {
	deploy_printer
	author=$(idyl token create --role author --subnet "$SUBNET" -o json | jq -r .token)
	provider=$(idyl token create --role provider --subnet "$SUBNET" -o json | jq -r .token)
	run env IDYL_TOKEN="$author" idyl workload exec w --subnet "$SUBNET" -- echo hi
	[ "$status" -eq 0 ]
	[ "$output" = "hi" ]
	run env IDYL_TOKEN="$provider" idyl workload exec w --subnet "$SUBNET" -- echo hi
	[ "$status" -eq 1 ]
	[ "$output" = "error: role provider may not POST /v1/subnets/$SUBNET/workloads/w/exec" ]
	run env IDYL_TOKEN="$provider" idyl workload logs w --subnet "$SUBNET"
	[ "$status" -eq 1 ]
	[ "$output" = "error: role provider may not POST /v1/subnets/$SUBNET/workloads/w/logs" ]
	run sh -c "api GET '/v1/audit?subnet=$SUBNET' | head -n 1 |
		jq -c '[.[] | select(.path == \"/v1/subnets/$SUBNET/workloads/w/exec\") | [.role, .status]]'"
	api GET "/v1/audit?subnet=$SUBNET" | head -n 1 >"$BATS_TEST_TMPDIR/audit"
	run jq -c "[.[] | select(.path == \"/v1/subnets/$SUBNET/workloads/w/exec\") | [.role, .status]] | sort" "$BATS_TEST_TMPDIR/audit"
	[ "$output" = '[["author",101],["provider",403]]' ]
}

@test "exec in a workload that is not running, or without a command, is refused" {
	run idyl workload exec nope --subnet "$SUBNET" -- true
	[ "$status" -eq 1 ]
	[[ "$output" == 'error: workload "nope" not found'* ]]
	deploy_printer
	run idyl workload exec w --subnet "$SUBNET"
	[ "$status" -eq 2 ]
	[[ "$output" == *'give the command after "--"'* ]]
}

@test "a follow ends with a message when the node's agent goes" {
	deploy_printer
	idyl workload logs w --subnet "$SUBNET" --follow >"$BATS_TEST_TMPDIR/follow" \
		2>"$BATS_TEST_TMPDIR/follow.err" &
	FOLLOW_PID=$!
	wait_until 10 grep -q three "$BATS_TEST_TMPDIR/follow"
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node idyl node stop
	wait_until 10 sh -c "! kill -0 $FOLLOW_PID"
	run wait "$FOLLOW_PID"
	[ "$status" -eq 1 ]
	run cat "$BATS_TEST_TMPDIR/follow.err"
	[ "${lines[0]}" = two ]
	[ "${lines[1]}" = 'error: node "n1" closed the stream' ]
	if [ "$IDYL_E2E_RUNTIME" = containerd ]; then
		# the agent again, so teardown's deletes remove the sandboxes
		IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node idyl node run >>"$BATS_TEST_TMPDIR/agent2.log" 2>&1 3>&- &
	fi
}

@test "logs and exec stream over HTTPS too" {
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node idyl node stop
	stop_idyld
	make_test_pki
	start_idyld "$BATS_TEST_TMPDIR/tls" --tls-cert "$PKI/server.pem" --tls-key "$PKI/server.key"
	export IDYL_CA=$PKI/ca.pem
	[[ "$IDYL_ADDR" == https://* ]]
	SUBNET=$(new_subnet)
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-tls
	start_node "$SUBNET" n1
	deploy_printer
	run sh -c "idyl workload logs w --subnet $SUBNET --tail 1 2>/dev/null"
	[ "$output" = "three" ]
	run idyl workload exec w --subnet "$SUBNET" -- sh -c 'echo a; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = "a" ]
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node-tls idyl node stop
}

@test "a follow whose CLI goes frees its stream on the node" {
	deploy_printer
	# more than the 16 streams an agent runs at once: each must end when its CLI goes
	for i in $(seq 20); do
		idyl workload logs w --subnet "$SUBNET" --follow >"$BATS_TEST_TMPDIR/f$i" 2>&1 &
		pid=$!
		wait_until 10 grep -q three "$BATS_TEST_TMPDIR/f$i"
		kill "$pid"
		wait "$pid" || true
	done
	wait_until 15 sh -c "idyl workload logs w --subnet $SUBNET --tail 1 2>/dev/null | grep -qx three"
}

@test "logs and exec of a workload on a hollow node are refused at once" {
	start_sim --subnet "$SUBNET" --count 1 --runtime-profile docker --cpu 64
	# more CPU than this machine's node offers: only the hollow node fits
	idyl deploy idyl/busybox:latest --name h --subnet "$SUBNET" --cpu 32 >/dev/null
	wait_until 10 phase_is h running
	node=$(idyl workload get h --subnet "$SUBNET" -o json | jq -r .status.node)
	run idyl workload logs h --subnet "$SUBNET"
	[ "$status" -eq 1 ]
	[ "$output" = "error: node \"$node\" is a hollow node: it runs nothing to stream" ]
	run idyl workload exec h --subnet "$SUBNET" -- true
	[ "$status" -eq 1 ]
	[ "$output" = "error: node \"$node\" is a hollow node: it runs nothing to stream" ]
	stop_sims
}

@test "logs --follow ends when the run ends" {
	idyl deploy idyl/busybox:latest --name e --subnet "$SUBNET" -- \
		sh -c 'echo started; sleep 3; echo done; exit 3' >/dev/null
	wait_until 30 phase_is e running
	wait_until 10 sh -c "idyl workload logs e --subnet $SUBNET | grep -q started"
	start=$(now_ms)
	run timeout 20 idyl workload logs e --subnet "$SUBNET" --follow
	echo "the follow ended $(($(now_ms) - start)) ms after it began" >&3
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'started\ndone')" ]
}

@test "exec -i passes stdin to the process and its end closes it" {
	deploy_sleeper
	run sh -c "echo hi | idyl workload exec -i w --subnet $SUBNET -- cat"
	[ "$status" -eq 0 ]
	[ "$output" = "hi" ]
	run sh -c "echo 5 | idyl workload exec -i w --subnet $SUBNET -- sh -c 'read x; exit \$x'"
	[ "$status" -eq 5 ]
	[ -z "$output" ]
	# a stdin of many frames arrives whole and in order, while as much
	# output comes back
	seq 100000 >"$BATS_TEST_TMPDIR/in"
	idyl workload exec --stdin w --subnet "$SUBNET" -- cat <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	# without -i the process's stdin stays closed: cat reads nothing
	run sh -c "echo hi | idyl workload exec w --subnet $SUBNET -- cat"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run idyl workload exec -it w --subnet "$SUBNET" -- true
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'error: exec has no terminal: --tty is not supported (-i passes stdin without one)' ]
}

@test "an exec whose CLI is killed is stopped in the workload" {
	deploy_sleeper
	before=$(restarts)
	# sh stays (a command follows sleep), so the exec is two processes
	exec_started "$BATS_TEST_TMPDIR/out" 'sleep 300; echo late'
	[ -n "$(procs_in_w 'sleep 300')" ]
	[ -n "$(procs_in_w "sh -c echo started; sleep 300; echo late")" ]
	kill -9 "$EXEC_PID"
	start=$(date +%s%3N)
	wait_until 5 none_in_w 'sleep 300'
	echo "exec stopped $(($(date +%s%3N) - start)) ms after its CLI was killed" >&3
	none_in_w "sh -c echo started; sleep 300; echo late"
	run grep -q late "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 1 ]
	# the workload's own process runs on, not restarted
	[ -n "$(procs_in_w 'sleep 3600')" ]
	phase_is w running
	[ "$(restarts)" = "$before" ]
}

@test "only the exec whose CLI went is stopped, not another one" {
	deploy_sleeper
	exec_started "$BATS_TEST_TMPDIR/a" 'sleep 302; echo late'
	first=$EXEC_PID
	exec_started "$BATS_TEST_TMPDIR/b" 'sleep 303; echo other'
	other=$EXEC_PID
	kill "$first"
	wait_until 5 none_in_w 'sleep 302'
	[ -n "$(procs_in_w 'sleep 303')" ]
	kill "$other"
	wait_until 5 none_in_w 'sleep 303'
}

@test "an exec that ignores SIGTERM is killed after the grace" {
	deploy_sleeper
	exec_started "$BATS_TEST_TMPDIR/out" 'trap "" TERM; sleep 301; echo late'
	kill -TERM "$EXEC_PID"
	sleep 1
	# still there within the grace (sh ignores TERM; sleep has it ignored too)
	[ -n "$(procs_in_w 'sleep 301')" ]
	wait_until 5 none_in_w 'sleep 301'
	[ -n "$(procs_in_w 'sleep 3600')" ]
	phase_is w running
}
