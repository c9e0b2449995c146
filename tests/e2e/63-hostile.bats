#!/usr/bin/env bats
# Hostile input: oversized headers, URLs and bodies, malformed and deeply
# nested JSON, wrong types, bad names, NUL bytes, strict query strings and
# slow clients. Each gets a 4xx (or the connection closed), nothing is
# written, and idyld keeps serving.
load helper

setup() { start_idyld_with_subnet --client-timeout 2; }
teardown() { stop_idyld; }

# The state a refused request must leave alone.
snapshot() {
	{
		idyl subnet list -o json
		idyl workload list --subnet "$S" -o json
		idyl token list -o json
	} | jq -c .
}

still_serving() {
	[ "$(curl -s "$IDYL_ADDR/healthz")" = '{"status":"ok"}' ]
	[ "$(snapshot)" = "$BEFORE" ]
}

code_of() { echo "${lines[0]}" | jq -r .error.code; }

@test "oversized headers, URLs and bodies are refused before any handler" {
	BEFORE=$(snapshot)
	big=$(head -c 100000 /dev/zero | tr '\0' a)
	run curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$IDYL_ADDR/healthz"
	[ "$output" = 431 ]
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $IDYL_TOKEN" \
		"$IDYL_ADDR/v1/subnets/$big"
	[ "$output" = 414 ]
	# a body past 3 MiB, declared or streamed in chunks
	head -c 3145729 /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/big"
	run api POST /v1/subnets "@$BATS_TEST_TMPDIR/big"
	[ "${lines[-1]}" = 413 ]
	run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $IDYL_TOKEN" \
		-H 'Transfer-Encoding: chunked' --data-binary "@$BATS_TEST_TMPDIR/big" "$IDYL_ADDR/v1/subnets"
	[ "${lines[0]}" = '{"error":{"code":"payload_too_large","message":"request body is larger than 3145728 bytes"}}' ]
	[ "${lines[1]}" = 413 ]
	still_serving
}

@test "malformed, deeply nested, NUL-carrying and non-UTF-8 JSON is a 400" {
	BEFORE=$(snapshot)
	python3 -c "print('[' * 100000 + ']' * 100000)" >"$BATS_TEST_TMPDIR/deep"
	run api POST /v1/subnets "@$BATS_TEST_TMPDIR/deep"
	[ "${lines[-1]}" = 400 ]
	[[ "${lines[0]}" == *"maximum parsing depth reached"* ]]
	run api POST /v1/subnets '{"region":"us-east\u0000x"}'
	[ "${lines[-1]}" = 400 ]
	run api POST /v1/subnets "$(printf '{"region":"\xff\xfe"}')"
	[ "${lines[-1]}" = 400 ]
	[[ "${lines[0]}" == *"unable to decode byte 0xff"* ]]
	run api POST /v1/subnets '{"region":"us-east","region":"eu-west"}'
	[ "${lines[-1]}" = 400 ]
	run api POST /v1/subnets '["region"]'
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"request body must be a JSON object"}}' ]
	run api POST /v1/subnets '{"region":"us-east"} trailing'
	[ "${lines[-1]}" = 400 ]
	still_serving
}

@test "wrong JSON types are 400s naming the field" {
	BEFORE=$(snapshot)
	run api POST /v1/subnets '{"region":5}'
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"field \"region\" must be a string"}}' ]
	run api POST /v1/subnets '{"region":"us-east","runtimePolicy":{"allowedIsolationClasses":"microvm"}}'
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"field \"allowedIsolationClasses\" must be an array of strings"}}' ]
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx","resources":{"gpus":1.5}}}'
	[ "${lines[-1]}" = 400 ]
	[[ "${lines[0]}" == *'field \"spec.resources.gpus\" must be a whole number'* ]]
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx","command":"ls"}}'
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"field \"spec.command\" must be an array of at most 128 strings"}}' ]
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx","resources":{"cpu":1e300}}}'
	[ "${lines[-1]}" = 400 ]
	run api POST /v1/tokens '{"role":["operator"]}'
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"field \"role\" must be a string"}}' ]
	still_serving
}

@test "quantities that cannot be represented or would be rounded are refused" {
	BEFORE=$(snapshot)
	body() { printf '{"name":"w","spec":{"image":"busybox","isolation":{"class":"microvm"},"resources":%s}}' "$1"; }
	run api POST "/v1/subnets/$S/workloads" "$(body '{"memory":"9223372036854775807"}')"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"invalid --memory \"9223372036854775807\": at most 1Pi"}}' ]
	run api POST "/v1/subnets/$S/workloads" "$(body '{"cpu":"0x10"}')"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"invalid --cpu \"0x10\": want cores > 0 such as 0.5 or 2, or millicores such as 500m"}}' ]
	run api POST "/v1/subnets/$S/workloads" "$(body '{"cpu":1024.0006}')"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"invalid cpu 1024.0006000000001: at most 3 decimals (1m is the smallest unit)"}}' ]
	run idyl deploy busybox --name w --subnet "$S" --cpu 0x10
	[ "$status" -ne 0 ]
	[[ "$output" == *'invalid --cpu "0x10"'* ]]
	still_serving
}

@test "names, regions, env keys, images and platforms keep to their charsets" {
	BEFORE=$(snapshot)
	for name in Web "w\u00e9b" "-web" "web-" "a.b" "$(printf 'a%.0s' $(seq 64))"; do
		run api POST "/v1/subnets/$S/workloads" "{\"name\":\"$name\",\"spec\":{\"image\":\"nginx\"}}"
		[ "${lines[-1]}" = 400 ]
		[[ "${lines[0]}" == *'must be a DNS-1123 label'* ]]
	done
	run api POST /v1/subnets '{"region":"US EAST"}'
	[ "${lines[-1]}" = 400 ]
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx","env":{"A B":"x"}}}'
	[ "${lines[-1]}" = 400 ]
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx\nx"}}'
	[ "${lines[-1]}" = 400 ]
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx","platform":"linux/../../x"}}'
	[ "${lines[-1]}" = 400 ]
	run api POST "/v1/subnets/$S/nodes" '{"name":"../x","platform":"linux/amd64","runtime":{"profile":"docker"},"capacity":{"cpu":1,"memory":"1Gi"}}'
	[ "${lines[-1]}" = 400 ]
	[[ "${lines[0]}" == *'invalid --name \"../x\": a node name is'* ]]
	still_serving
}

@test "a percent-encoded NUL does not cut the path short" {
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	BEFORE=$(snapshot)
	# decoding the NUL once routed this as DELETE /v1/subnets/S/workloads/web
	run api DELETE "/v1/subnets/$S/workloads/web%00/events"
	[ "${lines[-1]}" = 405 ]
	run api GET "/v1/subnets/$S%00/workloads"
	[ "${lines[0]}" = "{\"error\":{\"code\":\"not_found\",\"message\":\"subnet \\\"$S%00\\\" not found\"}}" ]
	run api GET "/v1/audit?limit=1%00"
	[ "${lines[-1]}" = 400 ]
	still_serving
}

@test "query strings are strict" {
	BEFORE=$(snapshot)
	node=$(api POST "/v1/subnets/$S/nodes" '{"name":"n1","platform":"linux/amd64","runtime":{"profile":"docker"},"capacity":{"cpu":1,"memory":"1Gi"}}' | head -n1 | jq -r .credential)
	BEFORE=$(snapshot)
	for q in wait=abc wait=61 wait=-1 wait=99999999999999999999999; do
		run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $node" "$IDYL_ADDR/v1/subnets/$S/nodes/n1/assignments?$q"
		[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"wait must be 0 to 60 seconds"}}' ]
	done
	for q in limit=0 limit=10001 limit=1e3 subnet=abc 'subnet=100000000001&x=1'; do
		run api GET "/v1/audit?$q"
		[ "${lines[-1]}" = 400 ]
	done
	for q in version=abc version=-5 version=1x 'version=99999999999999999999999'; do
		run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $node" "$IDYL_ADDR/v1/subnets/$S/nodes/n1/assignments?$q"
		[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"version must be a whole number: the assignVersion last seen"}}' ]
	done
	run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $node" "$IDYL_ADDR/v1/subnets/$S/nodes/n1/assignments?wait=1&from=3"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"unknown query parameter \"from\": GET /v1/subnets/{slug}/nodes/{name}/assignments takes version,wait,since"}}' ]
	run api GET "/v1/subnets/$S?verbose=1"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"unknown query parameter \"verbose\": GET /v1/subnets/{slug} takes none"}}' ]
	run curl -s -w '\n%{http_code}' "$IDYL_ADDR/healthz?x=1"
	[ "${lines[1]}" = 400 ]
	still_serving
}

@test "a slow client is cut off after the timeout and starves no one" {
	port=${IDYL_ADDR##*:}
	exec 5<>"/dev/tcp/127.0.0.1/$port"
	printf 'POST /v1/subnets HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n' >&5
	# meanwhile others are served at once
	[ "$(curl -s -m 1 "$IDYL_ADDR/healthz")" = '{"status":"ok"}' ]
	start=$(date +%s)
	run timeout 10 cat <&5
	end=$(date +%s)
	exec 5<&-
	[ "$status" -eq 0 ] # closed by idyld, not by timeout(1)
	[ $((end - start)) -le 4 ]
	# a body that stops halfway is cut off too, and writes nothing
	BEFORE=$(snapshot)
	exec 5<>"/dev/tcp/127.0.0.1/$port"
	printf 'POST /v1/subnets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{"region":' "$IDYL_TOKEN" >&5
	run timeout 10 cat <&5
	exec 5<&-
	[ "$status" -eq 0 ]
	still_serving
}

@test "a body trickled in byte by byte is cut off at four client timeouts" {
	stop_idyld
	start_idyld "" --client-timeout 1
	BEFORE=$(snapshot)
	exec 5<>"/dev/tcp/127.0.0.1/${IDYL_ADDR##*:}"
	printf 'POST /v1/subnets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 60\r\n\r\n' "$IDYL_TOKEN" >&5
	# one byte every 0.4 s: never silent for the 1 s timeout, 24 s for the body
	(for _ in $(seq 60); do printf ' ' || exit 0; sleep 0.4; done) >&5 2>/dev/null 3>&- &
	writer=$!
	start=$(date +%s%N)
	run timeout 20 cat <&5
	end=$(date +%s%N)
	exec 5<&-
	kill "$writer" 2>/dev/null || true
	wait "$writer" 2>/dev/null || true
	[ "$status" -eq 0 ] # closed by idyld
	elapsed_ms=$(((end - start) / 1000000))
	[ "$elapsed_ms" -ge 3000 ]
	[ "$elapsed_ms" -le 7000 ]
	still_serving
}

hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$IDYLD_PID/status"; }

@test "a body without a credential is refused from the headers, before a byte of it is read" {
	BEFORE=$(snapshot)
	before=$(hwm_kib)
	run python3 "$BATS_TEST_DIRNAME/hostile-client.py" unauth-bodies "${IDYL_ADDR##*:}" 150 3145728
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 150 ] # every one answered 401 before sending its body
	after=$(hwm_kib)
	echo "peak RSS ${before} KiB -> ${after} KiB" >&3
	[ $((after - before)) -lt 51200 ]
	still_serving
}

@test "a request head sent a byte at a time is cut at the client timeout, and others are served" {
	run python3 "$BATS_TEST_DIRNAME/hostile-client.py" slow-head "${IDYL_ADDR##*:}" 0.3
	[ "$status" -eq 0 ]
	secs=${output%.*}
	[ "$secs" -ge 2 ] && [ "$secs" -le 4 ]
	# 300 slow heads at once: every one is cut, /healthz answers meanwhile
	python3 "$BATS_TEST_DIRNAME/hostile-client.py" slow-heads "${IDYL_ADDR##*:}" 300 8 >"$BATS_TEST_TMPDIR/cut" &
	client=$!
	sleep 1
	[ "$(curl -s -m 1 "$IDYL_ADDR/healthz")" = '{"status":"ok"}' ]
	wait "$client"
	[ "$(cat "$BATS_TEST_TMPDIR/cut")" = 300 ]
	grep -q "whose request head did not arrive within 2 s" "$BATS_TEST_TMPDIR/idyld.log"
}

@test "connections past --max-connections are refused and logged; the unit raises the file limit" {
	stop_idyld
	start_idyld "" --client-timeout 3 --max-connections 20
	python3 "$BATS_TEST_DIRNAME/hostile-client.py" slow-heads "${IDYL_ADDR##*:}" 30 2 >/dev/null
	grep -q "connection limit 20 reached: new connections wait until one closes" "$BATS_TEST_TMPDIR/idyld.log"
	# the library's complaints about the cut clients are bounded, not one a client
	[ "$(grep -c 'idyld warn: http: ' "$BATS_TEST_TMPDIR/idyld.log")" -le 11 ]
	[ "$(curl -s -m 2 "$IDYL_ADDR/healthz")" = '{"status":"ok"}' ]
	run idyld --max-connections 0
	[ "$status" -eq 2 ]
	[ "$output" = 'idyld: invalid --max-connections "0": want 1-1000000' ]
	run bash -c 'ulimit -n 1024; idyld --max-connections 5000 --data-dir /nonexistent'
	[ "$status" -eq 2 ]
	[[ "$output" == *"--max-connections 5000 does not fit the open-file limit"* ]]
	grep -qx 'LimitNOFILE=65536' "$BATS_TEST_DIRNAME/../../contrib/systemd/idyld.service"
}

@test "every refusal is a JSON error, unknown routes ask for a credential first" {
	BEFORE=$(snapshot)
	run curl -s -w '\n%{http_code}' "$IDYL_ADDR/v1/no-such-thing"
	[ "${lines[0]}" = '{"error":{"code":"unauthorized","message":"missing credential: send Authorization: Bearer <token>"}}' ]
	[ "${lines[1]}" = 401 ]
	run api GET /v1/no-such-thing
	[ "${lines[0]}" = '{"error":{"code":"not_found","message":"no such resource \"/v1/no-such-thing\""}}' ]
	run api GET "/v1/subnets/%ff%fe"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"request path is not valid UTF-8"}}' ]
	[ "${lines[1]}" = 400 ]
	long=$(head -c 9000 /dev/zero | tr '\0' a)
	run api GET "/v1/subnets/$long"
	[ "${lines[0]}" = '{"error":{"code":"uri_too_long","message":"request target is 9012 bytes, longer than 8192"}}' ]
	[ "${lines[1]}" = 414 ]
	run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $IDYL_TOKEN" -H 'Content-Length: 2' \
		-H 'Content-Length: 2' -d '{}' "$IDYL_ADDR/v1/subnets"
	[ "${lines[0]}" = '{"error":{"code":"invalid_argument","message":"more than one Content-Length header in the request"}}' ]
	run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $IDYL_TOKEN" -H 'Content-Length: 10000000000000000000' \
		-X POST "$IDYL_ADDR/v1/subnets"
	[ "${lines[0]}" = '{"error":{"code":"payload_too_large","message":"request body is larger than 3145728 bytes"}}' ]
	[ "${lines[1]}" = 413 ]
	# the authenticated probe of an unknown route, and the non-UTF-8 path, are in the audit log
	run api GET "/v1/audit?limit=10"
	echo "${lines[0]}" | jq -e 'map(select(.path == "/v1/no-such-thing" and .status == 404)) | length == 1'
	echo "${lines[0]}" | jq -e 'map(select(.path == "/v1/subnets/??" and .status == 400)) | length == 1'
	still_serving
}

@test "the database files are the owner's alone, also when an older idyld left them readable" {
	idyl subnet create --region us-east >/dev/null # something in the WAL
	for f in idyl.db idyl.db-wal idyl.db-shm; do
		[ "$(stat -c %a "$BATS_TEST_TMPDIR/data/$f")" = 600 ]
	done
	stop_idyld
	chmod 644 "$BATS_TEST_TMPDIR/data/idyl.db"
	start_idyld
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/data/idyl.db")" = 600 ]
}

@test "deleting a subnet revokes the credentials scoped to it" {
	S2=$(new_subnet)
	author=$(idyl token create --role author --subnet "$S2" -o json | jq -r .token)
	[ "$(IDYL_TOKEN=$author idyl workload list --subnet "$S2" -o json)" = '[]' ]
	idyl subnet delete "$S2" >/dev/null
	run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $author" "$IDYL_ADDR/v1/subnets/$S2/workloads"
	[ "${lines[0]}" = '{"error":{"code":"unauthorized","message":"invalid credential"}}' ]
	[ "$(idyl token list -o json | jq --arg s "$S2" '[.[] | select(.subnet == $s)] | length')" = 0 ]
}

@test "heartbeat reports are strict: no negative or fractional counts, unknown fields or cut reasons" {
	node=$(api POST "/v1/subnets/$S/nodes" '{"name":"n1","platform":"linux/amd64","runtime":{"profile":"docker"},"capacity":{"cpu":1,"memory":"1Gi"}}' | head -n1 | jq -r .credential)
	BEFORE=$(snapshot)
	hb() {
		curl -s -H "Authorization: Bearer $node" --data-binary "$1" \
			"$IDYL_ADDR/v1/subnets/$S/nodes/n1/heartbeat" | jq -r .error.message
	}
	w() { printf '{"workloads":[{"name":"w","revision":1,"phase":"running"%s}]}' "$1"; }
	[ "$(hb "$(w ',"restarts":-1')")" = 'field "restarts" of a workload report must be a whole number from 0 to 2147483647' ]
	[ "$(hb "$(w ',"restarts":1.5')")" = 'field "restarts" of a workload report must be a whole number from 0 to 2147483647' ]
	[ "$(hb "$(w ',"restarts":4294967297')")" = 'field "restarts" of a workload report must be a whole number from 0 to 2147483647' ]
	[ "$(hb "$(w ',"exitCode":3')")" = 'unknown field "exitCode" in workload report' ]
	[ "$(hb '{"workloads":[{"name":"w","revision":"1","phase":"running"}]}')" = 'field "revision" of a workload report must be a whole number from 1' ]
	[ "$(hb '{"workloads":[7]}')" = 'each workload report must be an object' ]
	long=$(head -c 3000 /dev/zero | tr '\0' r)
	[ "$(hb "{\"runtime\":{\"ready\":false,\"reason\":\"$long\"}}")" = 'field "runtime.reason" is longer than 255 bytes' ]
	[ "$(idyl node get n1 --subnet "$S" -o json | jq -r .runtime.reason)" = "" ]
	still_serving
}
