#!/usr/bin/env bats
# Named contexts in the config file: set-context, get-contexts, use-context,
# and the default subnet they (or IDYL_SUBNET) give to deploy, workload and
# node commands, with --subnet over both.
load helper

setup() {
	start_idyld
	S=$(new_subnet)
	T=$(new_subnet)
	good_addr=$IDYL_ADDR good_token=$IDYL_TOKEN
	export IDYL_CONFIG=$BATS_TEST_TMPDIR/cfg/idyl/config
	unset IDYL_ADDR IDYL_TOKEN
}

teardown() {
	stop_idyld
}

@test "set-context creates a context, use-context switches to it, commands use it" {
	run idyl config set-context prod --addr "$good_addr" --token "$good_token" --subnet "$S"
	[ "$status" -eq 0 ]
	[ "$output" = "context \"prod\" created in $IDYL_CONFIG" ]
	[ "$(stat -c %a "$IDYL_CONFIG")" = 600 ]
	# not current yet: the default address, which nothing listens on here
	run idyl config get-contexts
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "CURRENT  NAME  ADDR                    SUBNET        CREDENTIAL" ]
	[ "${lines[1]}" = "-        prod  $good_addr  $S  token" ]
	run idyl config use-context prod
	[ "$status" -eq 0 ]
	[ "$output" = 'switched to context "prod"' ]
	run idyl config get-contexts -o json
	[ "$(echo "$output" | jq -c '.[0]')" = "{\"name\":\"prod\",\"current\":true,\"addr\":\"$good_addr\",\"subnet\":\"$S\",\"credential\":\"token\"}" ]
	# the credential itself is never printed
	! echo "$output" | grep -q "$good_token"
	# --subnet omitted: the context's
	run idyl deploy nginx --name web
	[ "$status" -eq 0 ]
	[ "$(idyl workload list -o json | jq -r '.[0].name')" = web ]
	[ "$(idyl workload get web -o json | jq -r .subnet)" = "$S" ]
}

@test "IDYL_SUBNET over the context's subnet, --subnet over both" {
	idyl config set-context prod --addr "$good_addr" --token "$good_token" --subnet "$S" >/dev/null
	idyl config use-context prod >/dev/null
	IDYL_SUBNET=$T run idyl deploy nginx --name from-env
	[ "$status" -eq 0 ]
	[ "$(idyl workload list --subnet "$T" -o json | jq -r '.[].name')" = from-env ]
	IDYL_SUBNET=$T run idyl deploy nginx --name from-flag --subnet "$S"
	[ "$status" -eq 0 ]
	[ "$(idyl workload list -o json | jq -r '.[].name')" = from-flag ]
	# a token's scope never defaults: without --subnet it is an unscoped token
	run idyl token create --role author -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .subnet)" = null ]
}

@test "no subnet anywhere: --subnet is still required" {
	idyl config set-context bare --addr "$good_addr" --token "$good_token" >/dev/null
	idyl config use-context bare >/dev/null
	run --separate-stderr idyl workload list
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "error: --subnet is required" ]
}

@test "use-context of an unknown name exits non-zero and changes nothing" {
	idyl config set-context prod --addr "$good_addr" --token "$good_token" >/dev/null
	before=$(cat "$IDYL_CONFIG")
	run --separate-stderr idyl config use-context nope
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: context \"nope\" not found in $IDYL_CONFIG: create it with \"idyl config set-context nope\"" ]
	[ "$(cat "$IDYL_CONFIG")" = "$before" ]
}

@test "set-context updates in place, keeps comments and other contexts, one credential" {
	mkdir -p "$(dirname "$IDYL_CONFIG")"
	printf '# mine\naddr = %s\ntoken = %s\n' "$good_addr" "$good_token" >"$IDYL_CONFIG"
	idyl config set-context a --addr http://127.0.0.1:1 --token t1 >/dev/null
	idyl config set-context b --addr "$good_addr" --token-file /tmp/nope >/dev/null
	run idyl config set-context a --token-file "$BATS_TEST_TMPDIR/tok" --subnet "$S"
	[ "$output" = "context \"a\" updated in $IDYL_CONFIG" ]
	[ "$(cat "$IDYL_CONFIG")" = "# mine
addr = $good_addr
token = $good_token

[context a]
addr = http://127.0.0.1:1
subnet = $S
token-file = $BATS_TEST_TMPDIR/tok

[context b]
addr = $good_addr
token-file = /tmp/nope" ]
	# no current context: the top-level keys apply, contexts are not read
	run idyl subnet list -o json
	[ "$status" -eq 0 ]
	# the current context's keys apply over the top level's
	echo "$good_token" >"$BATS_TEST_TMPDIR/tok"
	idyl config set-context a --addr "$good_addr" >/dev/null
	idyl config use-context a >/dev/null
	[ "$(grep -c '^current-context = a$' "$IDYL_CONFIG")" = 1 ]
	[ "$(sed -n 4p "$IDYL_CONFIG")" = "current-context = a" ]
	run idyl workload list -o json
	[ "$status" -eq 0 ]
	[ "$output" = "[]" ]
}

@test "set-context refuses bad values and a config that is not a regular file" {
	run --separate-stderr idyl config set-context prod --token a --token-file b
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "error: --token and --token-file exclude each other" ]
	run --separate-stderr idyl config set-context 'bad name'
	[ "$status" -eq 2 ]
	run --separate-stderr idyl config set-context prod --addr 127.0.0.1:7480
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'error: invalid --addr "127.0.0.1:7480": want http://HOST:PORT or https://HOST:PORT' ]
	run --separate-stderr idyl config set-context prod --subnet 12
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'error: invalid --subnet "12": want a 12-digit subnet slug' ]
	IDYL_CONFIG=/dev/null run --separate-stderr idyl config set-context prod --addr http://x:1
	[ "$status" -eq 1 ]
	[ "$stderr" = 'error: config "/dev/null" is not a regular file: set IDYL_CONFIG to one' ]
	[ -c /dev/null ]
}

@test "a current-context that is not defined is a usage error naming the fix" {
	mkdir -p "$(dirname "$IDYL_CONFIG")"
	printf 'current-context = gone\n' >"$IDYL_CONFIG"
	run --separate-stderr idyl subnet list
	[ "$status" -eq 2 ]
	[ "$stderr" = "error: $IDYL_CONFIG: current-context \"gone\" is not defined: add it with \"idyl config set-context gone\"" ]
}
