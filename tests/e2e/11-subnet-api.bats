#!/usr/bin/env bats
# The raw HTTP API (docs/api.md) with curl: credentials, JSON errors with
# stable codes and statuses that mean what they say, the body size limit,
# and slugs. Every refused request must leave nothing written.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

@test "401 without a credential or with a wrong one, on every kind of route" {
	slug=$(new_subnet)
	for route in "GET /v1/subnets" "POST /v1/subnets" "GET /v1/subnets/$slug" \
		"PATCH /v1/subnets/$slug" "DELETE /v1/subnets/$slug" \
		"POST /v1/subnets/$slug/workloads" "GET /v1/subnets/$slug/workloads" \
		"GET /v1/subnets/$slug/nodes"; do
		set -- $route
		run curl -s -X "$1" --data-binary '{"region":"us-east"}' -w '\n%{http_code}' "$IDYL_ADDR$2"
		expect_error 401 unauthorized "missing credential: send Authorization: Bearer <token>"
		run curl -s -X "$1" -H "Authorization: Bearer idyl_0000" --data-binary '{"region":"us-east"}' \
			-w '\n%{http_code}' "$IDYL_ADDR$2"
		expect_error 401 unauthorized "invalid credential"
		run curl -s -X "$1" -H "Authorization: Basic $IDYL_TOKEN" -w '\n%{http_code}' "$IDYL_ADDR$2"
		expect_error 401 unauthorized
	done
	[ "$(subnet_count)" = 1 ]
	[ "$(workload_count "$slug")" = 0 ]
}

@test "slugs are 12-digit strings increasing from 100000000001" {
	for want in 100000000001 100000000002 100000000003; do
		run api POST /v1/subnets '{"region":"us-east"}'
		[ "${lines[1]}" = 201 ]
		[ "$(echo "${lines[0]}" | jq -c .)" = "{\"slug\":\"$want\",\"region\":\"us-east\",\"status\":\"active\"}" ]
	done
	run api GET /v1/subnets
	[ "${lines[1]}" = 200 ]
	[ "$(echo "${lines[0]}" | jq -r '[.[].slug] | join(",")')" = 100000000001,100000000002,100000000003 ]
}

@test "POST, GET, PATCH, DELETE a subnet with their documented statuses" {
	run api POST /v1/subnets '{"region":"us-east","runtimePolicy":{"allowedIsolationClasses":["microvm"],"defaultIsolationClass":"microvm","allowedVMMBackends":["firecracker"]},"deployApproval":"required"}'
	[ "${lines[1]}" = 201 ]
	[ "$(echo "${lines[0]}" | jq -c .)" = '{"slug":"100000000001","region":"us-east","status":"active","runtimePolicy":{"allowedIsolationClasses":["microvm"],"defaultIsolationClass":"microvm","allowedVMMBackends":["firecracker"]},"deployApproval":"required"}' ]
	run api PATCH /v1/subnets/100000000001 '{"runtimePolicy":null,"deployApproval":"none"}'
	[ "${lines[1]}" = 200 ]
	[ "$(echo "${lines[0]}" | jq -c .)" = '{"slug":"100000000001","region":"us-east","status":"active"}' ]
	run api PATCH /v1/subnets/100000000001 '{}'
	[ "${lines[1]}" = 200 ]
	run api DELETE /v1/subnets/100000000001
	[ "$output" = $'\n204' ]
	run api GET /v1/subnets/100000000001
	expect_error 404 not_found 'subnet "100000000001" not found'
}

@test "400 with a JSON error on malformed JSON, nothing written" {
	for body in '{"region":' '{"region": "us-east"' 'region=us-east' '{"region":"a","region":"b"}'; do
		run api POST /v1/subnets "$body"
		expect_error 400 invalid_argument
		[[ "$(echo "${lines[0]}" | jq -r .error.message)" == "malformed JSON at line 1 column "* ]]
	done
	run api POST /v1/subnets '["us-east"]'
	expect_error 400 invalid_argument "request body must be a JSON object"
	run api POST /v1/subnets
	expect_error 400 invalid_argument "request body is required: a JSON object"
	[ "$(subnet_count)" = 0 ]
}

@test "400 naming the field on wrong types and unknown fields, nothing written" {
	expect_errors <<-EOF
		POST /v1/subnets|{"region":5}|400 invalid_argument|field "region" must be a string
		POST /v1/subnets|{"region":"us-east","runtimePolicy":"microvm"}|400 invalid_argument|field "runtimePolicy" must be an object or null
		POST /v1/subnets|{"region":"us-east","runtimePolicy":{"allowedIsolationClasses":"microvm"}}|400 invalid_argument|field "allowedIsolationClasses" must be an array of strings
		POST /v1/subnets|{"region":"us-east","runtimePolicy":{"allowedIsolationClasses":[1]}}|400 invalid_argument|field "allowedIsolationClasses" must be an array of strings
		POST /v1/subnets|{"region":"us-east","runtimePolicy":{"allowedIsolationClasses":["microvm"],"defaultIsolationClass":true}}|400 invalid_argument|field "defaultIsolationClass" must be a string
		POST /v1/subnets|{"region":"us-east","runtimePolicy":{}}|400 invalid_argument|--allowed-isolation-class is required when setting a runtime policy (valid values: container, microvm)
		POST /v1/subnets|{"region":"us-east","runtimePolicy":{"allowedIsolationClasses":["microvm"],"allowedVmmBackends":["qemu"]}}|400 invalid_argument|unknown field "allowedVmmBackends" in runtimePolicy
		POST /v1/subnets|{"region":"us-east","slug":"100000000009"}|400 invalid_argument|unknown field "slug" in subnet
		POST /v1/subnets|{"region":"us-east","deployApproval":true}|400 invalid_argument|field "deployApproval" must be a string
		POST /v1/subnets|{"region":"us-east","deployApproval":"maybe"}|400 invalid_argument|invalid deployApproval "maybe": valid values are required, none
	EOF
	[ "$(subnet_count)" = 0 ]

	slug=$(new_subnet --allowed-isolation-class microvm)
	before=$(idyl subnet get "$slug" -o json)
	expect_errors <<-EOF
		PATCH /v1/subnets/$slug|{"region":"eu-west"}|400 invalid_argument|field "region" cannot be changed
		PATCH /v1/subnets/$slug|{"runtimePolicy":{"allowedIsolationClasses":["microvm"],"defaultIsolationClass":"container"}}|400 invalid_argument|--default-isolation-class "container" must be one of --allowed-isolation-class (microvm)
		PATCH /v1/subnets/$slug|{"runtimePolicy":[]}|400 invalid_argument|field "runtimePolicy" must be an object or null
	EOF
	[ "$(idyl subnet get "$slug" -o json)" = "$before" ]

	expect_errors <<-EOF
		POST /v1/subnets/$slug/workloads|{"name":5,"spec":{"image":"nginx"}}|400 invalid_argument|field "name" must be a string
		POST /v1/subnets/$slug/workloads|{"name":"web"}|400 invalid_argument|field "spec" is required: an object
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx","isolation":"microvm"}}|400 invalid_argument|field "spec.isolation" must be an object
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx","isolation":{"class":"microvm"},"resources":{"gpus":"2"}}}|400 invalid_argument|invalid --gpus: field "spec.resources.gpus" must be a whole number from 0 to 64
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx","isolation":{"class":"microvm"},"resources":{"memory":1.5}}}|400 invalid_argument|field "memory" must be a string such as 256Mi
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx","isolation":{"class":"microvm"},"env":{"A":1}}}|400 invalid_argument|--env "A": the value must be a string without NUL
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx","isolation":{"class":"microvm"},"command":"sleep 1"}}|400 invalid_argument|field "spec.command" must be an array of at most 128 strings
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx","runtimeProfile":"docker"}}|400 invalid_argument|unknown field "runtimeProfile" in spec
	EOF
	[ "$(workload_count "$slug")" = 0 ]
}

# Writes a JSON subnet body of exactly $1 bytes to $2.
json_body_of_size() {
	local pad=$(($1 - ${#PREFIX} - 2))
	{ printf '%s' "$PREFIX"; head -c "$pad" /dev/zero | tr '\0' x; printf '"}'; } >"$2"
	[ "$(stat -c %s "$2")" -eq "$1" ]
}

@test "413 on a body over 3 MiB, with or without Content-Length, nothing written" {
	PREFIX='{"region":"us-east","deployApproval":"'
	body=$BATS_TEST_TMPDIR/big.json
	json_body_of_size $((3 * 1024 * 1024 + 1)) "$body"
	run curl -s -H "Authorization: Bearer $IDYL_TOKEN" --data-binary @"$body" \
		-w '\n%{http_code}' "$IDYL_ADDR/v1/subnets"
	expect_error 413 payload_too_large "request body is larger than 3145728 bytes"
	run curl -s -H "Authorization: Bearer $IDYL_TOKEN" -H "Transfer-Encoding: chunked" \
		--data-binary @"$body" -w '\n%{http_code}' "$IDYL_ADDR/v1/subnets"
	expect_error 413 payload_too_large
	[ "$(subnet_count)" = 0 ]

	# a valid request beyond the limit is refused too: nothing is parsed
	PREFIX='{"region":"us-east","deployApproval":"required","x":"'
	json_body_of_size $((4 * 1024 * 1024)) "$body"
	run curl -s -H "Authorization: Bearer $IDYL_TOKEN" -H "Transfer-Encoding: chunked" \
		--data-binary @"$body" -w '\n%{http_code}' "$IDYL_ADDR/v1/subnets"
	expect_error 413 payload_too_large

	# exactly 3 MiB is read and parsed (and refused for its content: 400)
	PREFIX='{"region":"us-east","deployApproval":"'
	json_body_of_size $((3 * 1024 * 1024)) "$body"
	run curl -s -H "Authorization: Bearer $IDYL_TOKEN" --data-binary @"$body" \
		-w '\n%{http_code}' "$IDYL_ADDR/v1/subnets"
	[ "${lines[-1]}" = 400 ]
	[ "$(subnet_count)" = 0 ]

	# a large deploy is refused the same way, and the server still serves
	slug=$(new_subnet)
	PREFIX='{"name":"web","spec":{"image":"nginx","env":{"A":"'
	json_body_of_size $((3 * 1024 * 1024 + 100)) "$body"
	run curl -s -H "Authorization: Bearer $IDYL_TOKEN" --data-binary @"$body" \
		-w '\n%{http_code}' "$IDYL_ADDR/v1/subnets/$slug/workloads"
	expect_error 413 payload_too_large
	[ "$(workload_count "$slug")" = 0 ]
}

@test "404 for unknown resources, 405 for a known path with the wrong method" {
	slug=$(new_subnet)
	expect_errors <<-EOF
		GET /v1/nope||404 not_found|no such resource "/v1/nope"
		GET /v1/subnets/100000000077||404 not_found|subnet "100000000077" not found
		GET /v1/subnets/xyz||404 not_found|subnet "xyz" not found
		GET /v1/subnets/$slug/workloads/ghost||404 not_found|
		POST /v1/subnets/100000000077/workloads|{"name":"web","spec":{"image":"nginx"}}|404 not_found|subnet "100000000077" not found
		PATCH /v1/subnets/100000000077|{"runtimePolicy":null}|404 not_found|subnet "100000000077" not found
		DELETE /v1/subnets||405 method_not_allowed|method DELETE is not allowed on "/v1/subnets"
		PUT /v1/subnets/$slug|{"region":"us-east"}|405 method_not_allowed|method PUT is not allowed on "/v1/subnets/$slug"
		PATCH /v1/subnets/$slug/workloads|{}|405 method_not_allowed|
	EOF
	[ "$(subnet_count)" = 1 ]
}

@test "422 with a stable code when admission rejects a deploy, nothing stored" {
	slug=$(new_subnet --allowed-isolation-class microvm)
	expect_errors <<-EOF
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx:1.27-alpine","platform":"linux/amd64"}}|422 isolation_class_required|isolation.class is required by subnet runtimePolicy
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx:1.27-alpine","isolation":{"class":"container"}}}|422 isolation_class_not_allowed|isolation.class "container" is not allowed by subnet runtimePolicy
		POST /v1/subnets/$slug/workloads|{"name":"web","spec":{"image":"nginx:1.27-alpine","isolation":{"class":"kata"}}}|400 invalid_argument|invalid --isolation-class "kata": valid values are container, microvm
	EOF
	[ "$(workload_count "$slug")" = 0 ]
	run api POST "/v1/subnets/$slug/workloads" '{"name":"web","spec":{"image":"nginx:1.27-alpine","isolation":{"class":"microvm"}}}'
	[ "${lines[-1]}" = 201 ]
	[ "$(echo "${lines[0]}" | jq -c .status.isolation)" = '{"class":"microvm","source":"explicit"}' ]
}

@test "409 when deleting a subnet that still has workloads" {
	slug=$(new_subnet)
	idyl deploy nginx --name web --subnet "$slug" >/dev/null
	run api DELETE "/v1/subnets/$slug"
	expect_error 409 conflict "subnet \"$slug\" still has 1 workload: delete them first"
	[ "$(subnet_count)" = 1 ]
}

@test "healthz needs no credential; errors are JSON with a content type" {
	run curl -s -D - -o /dev/null "$IDYL_ADDR/v1/subnets"
	[[ "$output" == *"Content-Type: application/json"* ]]
	run curl -s "$IDYL_ADDR/healthz"
	[ "$(echo "$output" | jq -r .status)" = ok ]
}
