#!/usr/bin/env bats
# TLS: idyld serves HTTPS with --tls-cert/--tls-key; the CLI and the node
# agent verify it against IDYL_CA (or the config file's "ca", or the system
# store); plain HTTP is refused off loopback unless --insecure-listen.
# A throw-away CA and server certificate are made with openssl per test.
load helper

setup() {
	PKI=$BATS_TEST_TMPDIR/pki
	make_test_pki
	make_ca other
}

teardown() {
	IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node idyl node stop >/dev/null 2>&1 || true
	stop_idyld
}

make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.pem" \
		-days 2 -subj "/CN=idyl test $1" 2>/dev/null
}

start_tls() {
	start_idyld "" --tls-cert "$PKI/server.pem" --tls-key "$PKI/server.key" "$@"
}

@test "the CLI talks HTTPS to idyld and verifies it with IDYL_CA" {
	start_tls
	[[ "$IDYL_ADDR" == https://127.0.0.1:* ]]
	run env IDYL_CA="$PKI/ca.pem" idyl subnet create --region us-east -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .slug)" = 100000000001 ]
	# the config file's ca works as well
	printf 'ca = %s\n' "$PKI/ca.pem" >"$BATS_TEST_TMPDIR/config"
	run env IDYL_CONFIG="$BATS_TEST_TMPDIR/config" idyl subnet list -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq length)" -eq 1 ]
}

@test "the CLI refuses a server its CA does not vouch for" {
	start_tls
	# the system store does not know the test CA
	run idyl subnet list
	[ "$status" -eq 1 ]
	[[ "$output" == "error: cannot reach idyld at $IDYL_ADDR: SSL certificate problem: unable to get local issuer certificate" ]]
	run env IDYL_CA="$PKI/other.pem" idyl subnet create --region us-east
	[ "$status" -eq 1 ]
	[[ "$output" == "error: cannot reach idyld at $IDYL_ADDR: SSL certificate problem: "* ]]
	# the right CA, the wrong name: the certificate is for 127.0.0.1 and localhost
	run env IDYL_CA="$PKI/ca.pem" IDYL_ADDR="https://127.0.0.2:${IDYL_ADDR##*:}" idyl subnet list
	[ "$status" -eq 1 ]
	[ "$(IDYL_CA="$PKI/ca.pem" subnet_count)" -eq 0 ]
}

@test "plain HTTP to the HTTPS port gets no answer" {
	start_tls
	run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${IDYL_ADDR##*:}/healthz"
	[ "$output" = 000 ]
	run curl -s --cacert "$PKI/ca.pem" "$IDYL_ADDR/healthz"
	[ "$output" = '{"status":"ok"}' ]
}

@test "the node agent joins and heartbeats over HTTPS, verifying with IDYL_CA" {
	start_tls --node-ttl 3
	export IDYL_CA=$PKI/ca.pem IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node
	S=$(new_subnet)
	run idyl node join --subnet "$S" --runtime-profile docker --name n1 \
		--runtime-endpoint "unix://$BATS_TEST_TMPDIR/no-docker.sock" --start
	[ "$status" -eq 0 ]
	# past the TTL the node is still heard from: its heartbeats get through
	sleep 5
	run idyl node get n1 --subnet "$S" -o json
	[ "$(echo "$output" | jq -r .status)" = not-ready ]
	run idyl node status
	[[ "$output" == *"control plane: $IDYL_ADDR reachable (node not-ready, admitted)"* ]]
	# without the CA, the agent cannot verify idyld
	run env -u IDYL_CA idyl node status
	[[ "$output" == *"control plane: $IDYL_ADDR unreachable: "*"SSL certificate problem"* ]]
}

@test "idyld refuses plain HTTP off loopback unless --insecure-listen" {
	run idyld --listen 0.0.0.0:0 --data-dir "$BATS_TEST_TMPDIR/d1"
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = 'idyld: refusing to serve plain HTTP on "0.0.0.0:0", which is not a loopback address: give --tls-cert and --tls-key, or --insecure-listen' ]
	run idyld --listen 127.0.0.1:0 --data-dir "$BATS_TEST_TMPDIR/d2" --tls-cert "$PKI/server.pem"
	[ "$status" -eq 2 ]
	[ "$output" = "idyld: --tls-cert and --tls-key go together" ]
	run idyld --listen 127.0.0.1:0 --data-dir "$BATS_TEST_TMPDIR/d2" --tls-cert /nonexistent \
		--tls-key "$PKI/server.key"
	[ "$status" -eq 1 ]
	[ "$output" = 'idyld: --tls-cert: cannot read "/nonexistent": No such file or directory' ]
	start_idyld "$BATS_TEST_TMPDIR/d3" --listen 0.0.0.0:0 --insecure-listen
	[ "$(curl -s "http://127.0.0.1:${IDYL_ADDR##*:}/healthz")" = '{"status":"ok"}' ]
	stop_idyld
	start_idyld "$BATS_TEST_TMPDIR/d4" --listen 0.0.0.0:0 --tls-cert "$PKI/server.pem" \
		--tls-key "$PKI/server.key"
	[ "$(curl -s --cacert "$PKI/ca.pem" "https://127.0.0.1:${IDYL_ADDR##*:}/healthz")" = '{"status":"ok"}' ]
}
