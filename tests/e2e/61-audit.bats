#!/usr/bin/env bats
# The audit log: every change (who by token id and role, what, which subnet,
# when, the status answered) is recorded, refused attempts by known callers
# too, and only operators read it with `idyl audit`.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

op_id() { idyl token list -o json | jq -r '.[] | select(.role == "operator") | .id' | head -n1; }

@test "changes are recorded with who, role, what, subnet, when and result" {
	before=$(date -u +%s)
	S=$(new_subnet)
	idyl subnet edit "$S" --allowed-isolation-class container >/dev/null
	out=$(idyl token create --role author --subnet "$S" -o json)
	author=$(echo "$out" | jq -r .token)
	author_id=$(echo "$out" | jq -r .id)
	IDYL_TOKEN=$author idyl deploy nginx --name web --subnet "$S" --isolation-class container >/dev/null
	run env IDYL_TOKEN="$author" idyl subnet edit "$S" --clear-runtime-policy
	[ "$status" -eq 1 ]
	run idyl audit -o json
	[ "$status" -eq 0 ]
	op=$(op_id)
	[ "$(echo "$output" | jq -c 'map([.token, .role, .method, .path, .subnet, .status])')" = \
		"[[\"$author_id\",\"author\",\"PATCH\",\"/v1/subnets/$S\",\"$S\",403],[\"$author_id\",\"author\",\"POST\",\"/v1/subnets/$S/workloads\",\"$S\",201],[\"$op\",\"operator\",\"POST\",\"/v1/tokens\",\"$S\",201],[\"$op\",\"operator\",\"PATCH\",\"/v1/subnets/$S\",\"$S\",200],[\"$op\",\"operator\",\"POST\",\"/v1/subnets\",\"$S\",201]]" ]
	# times are RFC 3339 UTC, not before the test began, newest first
	first=$(echo "$output" | jq -r '.[-1].time')
	[[ "$first" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
	[ "$(date -u -d "$first" +%s)" -ge "$before" ]
	[ "$(echo "$output" | jq '[.[].id] == ([.[].id] | sort | reverse)')" = true ]
	# reads are not changes, and the table shows the same records
	run idyl audit
	[ "${lines[0]}" = "TIME                      TOKEN         ROLE      METHOD  PATH                                SUBNET        STATUS" ]
	[ "${#lines[@]}" -eq 6 ]
	[[ "${lines[1]}" == *"  $author_id  author    PATCH   /v1/subnets/$S  "*"  $S  403" ]]
	# each record went in with its change, or alone when nothing changed
	[ "$(grep -c "audit:" "$BATS_TEST_TMPDIR/idyld.log")" = 0 ]
}

@test "audit filters by subnet and limits the count" {
	S=$(new_subnet)
	S2=$(new_subnet)
	idyl deploy nginx --name a --subnet "$S" >/dev/null
	idyl deploy nginx --name b --subnet "$S2" >/dev/null
	idyl workload delete a --subnet "$S" >/dev/null
	run idyl audit --subnet "$S" -o json
	[ "$(echo "$output" | jq -c 'map(.method + " " + .path + " " + (.status | tostring))')" = \
		"[\"DELETE /v1/subnets/$S/workloads/a 204\",\"POST /v1/subnets/$S/workloads 201\",\"POST /v1/subnets 201\"]" ]
	[ "$(grep -c "audit:" "$BATS_TEST_TMPDIR/idyld.log")" = 0 ]
	run idyl audit --limit 2 -o json
	[ "$(echo "$output" | jq length)" -eq 2 ]
	[ "$(echo "$output" | jq -r '.[0].path')" = "/v1/subnets/$S/workloads/a" ]
	run idyl audit --limit 0
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'error: invalid --limit "0": want 1 to 10000' ]
	run api GET "/v1/audit?limit=abc"
	[ "${lines[-1]}" = 400 ]
	run api GET "/v1/audit?who=me"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"unknown query parameter \"who\": GET /v1/audit takes subnet,limit"}}' ]
	run api GET "/v1/audit?subnet=abc"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"invalid query parameter \"subnet\": want subnet=<12-digit slug> and limit=1-10000"}}' ]
}

@test "node joins, admissions, revocations and token revocations are recorded; heartbeats are not" {
	S=$(new_subnet)
	prov=$(idyl token create --role provider -o json | jq -r .token)
	body='{"name":"n1","platform":"linux/amd64","runtime":{"profile":"docker","ready":true},"capacity":{"cpu":1,"memory":"1Gi","gpus":0}}'
	cred=$(curl -s -H "Authorization: Bearer $prov" -H 'Content-Type: application/json' \
		--data-binary "$body" "$IDYL_ADDR/v1/subnets/$S/nodes" | jq -r .credential)
	curl -s -o /dev/null -H "Authorization: Bearer $cred" --data-binary '{}' \
		"$IDYL_ADDR/v1/subnets/$S/nodes/n1/heartbeat"
	idyl node admit n1 --subnet "$S" >/dev/null
	idyl node revoke n1 --subnet "$S" >/dev/null
	id=$(idyl token list -o json | jq -r '.[] | select(.role == "provider" and .node == null) | .id')
	idyl token revoke "$id" >/dev/null
	run idyl audit --subnet "$S" -o json
	[ "$(echo "$output" | jq -c 'map([.role, .method, (.path | sub(".*/"; "")), .status])')" = \
		'[["operator","POST","revoke",200],["operator","POST","admit",200],["provider","POST","nodes",201],["operator","POST","subnets",201]]' ]
	run idyl audit --limit 1 -o json
	[ "$(echo "$output" | jq -c '.[0] | [.method, .path, .subnet, .status]')" = "[\"DELETE\",\"/v1/tokens/$id\",null,204]" ]
	[ "$(grep -c "audit:" "$BATS_TEST_TMPDIR/idyld.log")" = 0 ]
}

@test "only operators read the audit; a subnet operator sees only its subnet" {
	S=$(new_subnet)
	S2=$(new_subnet)
	author=$(idyl token create --role author -o json | jq -r .token)
	run env IDYL_TOKEN="$author" idyl audit
	[ "$status" -eq 1 ]
	[ "$output" = "error: role author may not GET /v1/audit" ]
	subop=$(idyl token create --role operator --subnet "$S" -o json | jq -r .token)
	run env IDYL_TOKEN="$subop" idyl audit -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.[].subnet] | unique | join(",")')" = "$S" ]
	run env IDYL_TOKEN="$subop" idyl audit --subnet "$S2"
	[ "$status" -eq 1 ]
	[ "$output" = "error: this credential is scoped to subnet \"$S\"" ]
}

@test "anonymous and wrong-credential attempts change nothing and are not recorded" {
	S=$(new_subnet)
	n=$(idyl audit -o json | jq length)
	curl -s -o /dev/null -X DELETE "$IDYL_ADDR/v1/subnets/$S"
	curl -s -o /dev/null -X DELETE -H 'Authorization: Bearer idyl_x' "$IDYL_ADDR/v1/subnets/$S"
	[ "$(idyl audit -o json | jq length)" -eq "$n" ]
	[ "$(subnet_count)" -eq 1 ]
}

@test "the audit survives a restart" {
	S=$(new_subnet)
	stop_idyld
	start_idyld
	run idyl audit -o json
	[ "$(echo "$output" | jq -r '.[0].path')" = /v1/subnets ]
	[ "$(echo "$output" | jq -r '.[0].subnet')" = "$S" ]
}

@test "audit records and workload events older than --history-retention are removed" {
	S=$(new_subnet)
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	[ "$(idyl audit -o json | jq length)" -ge 2 ]
	[ "$(idyl workload events web --subnet "$S" -o json | jq length)" -ge 1 ]
	stop_idyld
	sleep 3.2 # events keep whole seconds: be past the cut by one
	restart=$(date -u +%s)
	start_idyld "" --history-retention 2s
	wait_until 5 grep -q "history retention: removed" "$BATS_TEST_TMPDIR/idyld.log"
	# what is gone is the history, not the objects
	[ "$(idyl audit -o json | jq length)" = 0 ]
	idyl workload events web --subnet "$S" -o json | jq -e --argjson t "$restart" \
		'map(select((.time | sub("\\.[0-9]+Z$"; "Z") | fromdate) < $t - 1)) | length == 0'
	idyl workload get web --subnet "$S" >/dev/null
	run idyld --history-retention 1w
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'idyld: invalid --history-retention "1w": want 0 or a duration such as 12h, 30d (s, m, h or d)' ]
}
