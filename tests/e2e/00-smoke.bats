#!/usr/bin/env bats
# The control plane answers health checks and refuses anonymous requests.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

@test "healthz answers 200 without credentials" {
	run curl -s -o /dev/null -w '%{http_code}' "$IDYL_ADDR/healthz"
	[ "$output" = 200 ]
}

@test "operator.token is written at first start with mode 0600" {
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/data/operator.token")" = 600 ]
}

@test "anonymous API requests get 401 with a JSON error" {
	run curl -s -w '\n%{http_code}' "$IDYL_ADDR/v1/subnets"
	[ "${lines[1]}" = 401 ]
	[ "$(echo "${lines[0]}" | jq -r .error.code)" = unauthorized ]
}
