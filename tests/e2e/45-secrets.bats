#!/usr/bin/env bats
# Secrets (SPEC 6.3): created by operators and the subnet's authors, never
# shown back, sealed at rest (the data directory, WAL included, never holds
# a value), refused with clear messages when malformed, and given only to
# the node a workload is placed on, with that node's own credential.
load helper

setup() { start_idyld; }
teardown() {
	stop_sims
	stop_idyld
}

# A random value no file could hold by chance.
random_value() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

@test "create, list, get, update and delete show names and keys, never values" {
	S=$(new_subnet)
	v1=$(random_value)
	printf 'file-%s' "$v1" >"$BATS_TEST_TMPDIR/pw"
	run idyl secret create db --subnet "$S" --from-literal user=admin \
		--from-literal "password=$v1" --from-file "cert.pem=$BATS_TEST_TMPDIR/pw" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c '[.name, .subnet, .keys]')" = "[\"db\",\"$S\",[\"cert.pem\",\"password\",\"user\"]]" ]
	[ "$(echo "$output" | jq -c 'keys')" = '["createdAt","keys","name","subnet","updatedAt"]' ]
	[[ "$output" != *"$v1"* ]]
	run idyl secret list --subnet "$S"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "NAME  KEYS                    CREATED"* ]]
	[[ "${lines[1]}" == "db    cert.pem,password,user  "* ]]
	run idyl secret get db --subnet "$S" -o yaml
	[ "$status" -eq 0 ]
	[[ "$output" == *"name: db"* ]]
	[[ "$output" != *"$v1"* ]]
	run idyl secret update db --subnet "$S" --from-literal token=x -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .keys)" = '["token"]' ]
	run idyl secret delete db --subnet "$S"
	[ "$status" -eq 0 ]
	[ "$output" = 'secret "db" deleted' ]
	run idyl secret get db --subnet "$S"
	[ "$status" -eq 1 ]
	[ "$output" = "error: secret \"db\" not found in subnet $S" ]
}

@test "the data directory, WAL included, never holds a value in the clear" {
	S=$(new_subnet)
	v=$(random_value)
	idyl secret create db --subnet "$S" --from-literal "password=$v" >/dev/null
	idyl secret update db --subnet "$S" --from-literal "password=$v" --from-literal again=1 >/dev/null
	ls "$BATS_TEST_TMPDIR/data"/idyl.db-wal
	run grep -rl -- "$v" "$BATS_TEST_TMPDIR/data"
	[ "$status" -eq 1 ]
	# nor base64 of it, nor in the log
	b=$(printf '%s' "$v" | base64 -w0)
	run grep -rl -- "${b:0:24}" "$BATS_TEST_TMPDIR/data" "$BATS_TEST_TMPDIR/idyld.log"
	[ "$status" -eq 1 ]
	run grep -c -- "$v" "$BATS_TEST_TMPDIR/idyld.log"
	[ "$output" = 0 ]
	# the key: 0600, made at first start; the audit records carry no value
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/data/secret.key")" = 600 ]
	run idyl audit -o json
	[[ "$output" != *"$v"* ]]
	[ "$(echo "$output" | jq -c '[.[] | select(.path | contains("/secrets")) | [.method, .status]]')" = '[["PUT",200],["POST",201]]' ]
}

@test "bad names, keys and sizes are refused with a clear message and nothing is written" {
	S=$(new_subnet)
	run idyl secret create Bad_Name --subnet "$S" --from-literal a=b
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid secret name "Bad_Name": must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)' ]
	for key in .. . 'a/b' 'sp ace'; do
		run idyl secret create db --subnet "$S" --from-literal "$key=v"
		[ "$status" -eq 1 ]
		[ "$output" = "error: invalid secret key \"$key\": must match [-._a-zA-Z0-9]+ (at most 253 characters), other than \".\" and \"..\"" ]
	done
	run idyl secret create db --subnet "$S"
	[ "$status" -eq 2 ]
	[[ "${lines[0]}" == "error: give at least one --from-literal KEY=VALUE or --from-file KEY=PATH" ]]
	head -c 1048577 /dev/zero >"$BATS_TEST_TMPDIR/big"
	run idyl secret create db --subnet "$S" --from-file "big=$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 1 ]
	[ "$output" = "error: secret values are 1048577 bytes together: at most 1048576 bytes are allowed" ]
	# exactly 1 MiB together is accepted
	head -c 1048575 /dev/zero >"$BATS_TEST_TMPDIR/most"
	run idyl secret create big --subnet "$S" --from-file "a=$BATS_TEST_TMPDIR/most" --from-literal b=x
	[ "$status" -eq 0 ]
	# the server checks too (the API is a public interface)
	expect_errors <<-EOF
		POST /v1/subnets/$S/secrets|{"name":"x","data":{"..":"YQ=="}}|400 invalid_argument|
		POST /v1/subnets/$S/secrets|{"name":"x","data":{"a":"not base64!"}}|400 invalid_argument|field "data.a" must be a base64 string
		POST /v1/subnets/$S/secrets|{"name":"x","data":{"a":"YQ=="},"value":"z"}|400 invalid_argument|
	EOF
	[ "$(idyl secret list --subnet "$S" -o json | jq -c 'map(.name)')" = '["big"]' ]
	run idyl secret create big --subnet "$S" --from-literal a=b
	[ "$status" -eq 1 ]
	[ "$output" = "error: secret \"big\" already exists in subnet $S" ]
	run idyl secret update nope --subnet "$S" --from-literal a=b
	[ "$status" -eq 1 ]
	[ "$output" = "error: secret \"nope\" not found in subnet $S" ]
	run api PUT "/v1/subnets/$S/secrets/nope" '{"data":{"a":"YQ=="}}'
	[ "${lines[-1]}" = 404 ]
}

@test "operators and the subnet's authors manage secrets; providers and other subnets cannot" {
	S=$(new_subnet)
	T=$(new_subnet)
	author=$(idyl token create --role author --subnet "$S" -o json | jq -r .token)
	other=$(idyl token create --role author --subnet "$T" -o json | jq -r .token)
	provider=$(idyl token create --role provider --subnet "$S" -o json | jq -r .token)
	run env IDYL_TOKEN="$author" idyl secret create db --subnet "$S" --from-literal a=b
	[ "$status" -eq 0 ]
	run env IDYL_TOKEN="$author" idyl secret list --subnet "$S" -o json
	[ "$(echo "$output" | jq -c 'map(.name)')" = '["db"]' ]
	run env IDYL_TOKEN="$provider" idyl secret list --subnet "$S"
	[ "$status" -eq 1 ]
	[ "$output" = "error: role provider may not GET /v1/subnets/$S/secrets" ]
	run env IDYL_TOKEN="$provider" idyl secret create x --subnet "$S" --from-literal a=b
	[ "$status" -eq 1 ]
	[ "$output" = "error: role provider may not POST /v1/subnets/$S/secrets" ]
	run env IDYL_TOKEN="$other" idyl secret get db --subnet "$S"
	[ "$status" -eq 1 ]
	[[ "$output" == "error: this credential is scoped to subnet \"$T\" and may not GET /v1/subnets/$S/secrets/db" ]]
	run env IDYL_TOKEN="$author" idyl secret delete db --subnet "$S"
	[ "$status" -eq 0 ]
}

@test "a server given another key than its store's secrets were sealed with refuses to start" {
	S=$(new_subnet)
	idyl secret create db --subnet "$S" --from-literal a=b >/dev/null
	stop_idyld
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BATS_TEST_TMPDIR/other.key"
	echo >>"$BATS_TEST_TMPDIR/other.key"
	run idyld --listen 127.0.0.1:0 --data-dir "$BATS_TEST_TMPDIR/data" \
		--secret-key-file "$BATS_TEST_TMPDIR/other.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not match the key this store's secrets are sealed with"* ]]
	run idyld --listen 127.0.0.1:0 --data-dir "$BATS_TEST_TMPDIR/data" \
		--secret-key-file "$BATS_TEST_TMPDIR/missing.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"secret key \"$BATS_TEST_TMPDIR/missing.key\": No such file or directory"* ]]
	# the same key, given as a file, is accepted
	cp "$BATS_TEST_TMPDIR/data/secret.key" "$BATS_TEST_TMPDIR/same.key"
	start_idyld "$BATS_TEST_TMPDIR/data" --secret-key-file "$BATS_TEST_TMPDIR/same.key"
	[ "$(idyl secret list --subnet "$S" -o json | jq -c 'map(.name)')" = '["db"]' ]
}

# join SUBNET NAME: joins a ready node with the operator credential; prints its credential.
join_node() {
	curl -s -X POST -H "Authorization: Bearer $IDYL_TOKEN" -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"$2\",\"platform\":\"linux/amd64\",\"simulated\":true,\"runtime\":{\"profile\":\"docker\",\"ready\":true},\"capacity\":{\"cpu\":1,\"memory\":\"1Gi\",\"gpus\":0}}" \
		"$IDYL_ADDR/v1/subnets/$1/nodes" | jq -r .credential
}

# as TOKEN PATH: GET with that credential; prints the body, then the status.
as() { curl -s -H "Authorization: Bearer $1" -w '\n%{http_code}' "$IDYL_ADDR$2"; }

@test "deploy names secrets; a missing one is refused; one in use cannot be deleted" {
	S=$(new_subnet)
	v=$(random_value)
	run idyl deploy nginx --name web --subnet "$S" --secret db
	[ "$status" -eq 1 ]
	[ "$output" = "error: secret \"db\" not found in subnet $S" ]
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx","secretEnv":["api"]}}'
	[ "${lines[-1]}" = 404 ]
	[ "$(echo "${lines[0]}" | jq -r .error.message)" = "secret \"api\" not found in subnet $S" ]
	run idyl deploy nginx --name web --subnet "$S" --secret Bad
	[ "$output" = 'error: invalid --secret "Bad": a secret name is a DNS-1123 label' ]
	[ "$(workload_count "$S")" = 0 ]
	idyl secret create db --subnet "$S" --from-literal "password=$v" >/dev/null
	idyl secret create api --subnet "$S" --from-literal "TOKEN=$v" >/dev/null
	run idyl deploy nginx --name web --subnet "$S" --secret db --secret-env api -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c '[.spec.secrets, .spec.secretEnv]')" = '[["db"],["api"]]' ]
	[[ "$output" != *"$v"* ]]
	run idyl secret delete db --subnet "$S"
	[ "$status" -eq 1 ]
	[ "$output" = "error: secret \"db\" is used by workload \"web\" in subnet $S: delete or redeploy it without the secret first" ]
	run api DELETE "/v1/subnets/$S/secrets/api"
	[ "${lines[-1]}" = 409 ]
	# a secret in use may be updated; it reaches the workload when its container next starts
	run idyl secret update db --subnet "$S" --from-literal password=new
	[ "$status" -eq 0 ]
	idyl workload delete web --subnet "$S"
	run idyl secret delete db --subnet "$S"
	[ "$status" -eq 0 ]
}

@test "only the node a workload is placed on reads its values, with its own credential, audited" {
	S=$(new_subnet)
	v=$(random_value)
	idyl secret create db --subnet "$S" --from-literal "password=$v" --from-literal user=admin >/dev/null
	n1=$(join_node "$S" n1)
	idyl deploy nginx --name web --subnet "$S" --secret db --secret-env db >/dev/null
	wait_until 5 sh -c "idyl workload get web --subnet $S -o json | jq -e '.status.node == \"n1\"'"
	n2=$(join_node "$S" n2)
	path="/v1/subnets/$S/nodes/n1/workloads/web/secrets"
	run as "$n1" "$path"
	[ "${lines[-1]}" = 200 ]
	[ "$(echo "${lines[0]}" | jq -c '.secrets | map(.name)')" = '["db"]' ]
	[ "$(echo "${lines[0]}" | jq -r '.secrets[0].data.password' | base64 -d)" = "$v" ]
	[ "$(echo "${lines[0]}" | jq -r '.secrets[0].data.user' | base64 -d)" = admin ]
	# another node, even of the same subnet, through its own path or n1's
	run as "$n2" "$path"
	[ "${lines[-1]}" = 403 ]
	run as "$n2" "/v1/subnets/$S/nodes/n2/workloads/web/secrets"
	[ "${lines[-1]}" = 403 ]
	[ "$(echo "${lines[0]}" | jq -r .error.message)" = 'workload "web" is not placed on node "n2"' ]
	# no other caller, operators included
	author=$(idyl token create --role author --subnet "$S" -o json | jq -r .token)
	for t in "$IDYL_TOKEN" "$author"; do
		run as "$t" "$path"
		[ "${lines[-1]}" = 403 ]
		[[ "$output" != *"$v"* ]]
	done
	# the workload object and the events carry names only
	run idyl workload get web --subnet "$S" -o json
	[[ "$output" != *"$v"* ]]
	run api GET "/v1/subnets/$S/workloads/web/events"
	[[ "$output" != *"$v"* ]]
	# every read by a node is in the audit log (who, which node, the answer)
	run idyl audit -o json
	[ "$(echo "$output" | jq -c "[.[] | select(.path == \"$path\") | [.role, .node, .method, .status]]")" = \
		'[["author",null,"GET",403],["operator",null,"GET",403],["provider","n2","GET",403],["provider","n1","GET",200]]' ]
	[[ "$output" != *"$v"* ]]
	run grep -c -- "$v" "$BATS_TEST_TMPDIR/idyld.log"
	[ "$output" = 0 ]
}
