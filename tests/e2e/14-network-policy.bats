#!/usr/bin/env bats
# The subnet's networkPolicy (SPEC 6.2): set, replaced whole and cleared
# through the CLI and the API, separately from the other policies, and every
# refusal with its message and nothing written. Enforcement on real runtimes
# is in 49-netpolicy-docker.bats and 49-netpolicy-containerd.bats.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

policy() { idyl subnet get "$S" -o json | jq -c .networkPolicy; }

@test "subnet create and edit set the whole networkPolicy; clear removes it" {
	S=$(new_subnet --allowed-isolation-class container --egress restricted \
		--allow-egress-cidr 192.0.2.0/24 --allow-egress-cidr 10.1.2.3/8)
	[ "$(policy)" = '{"egress":"restricted","allowedEgressCIDRs":["192.0.2.0/24","10.0.0.0/8"]}' ]
	run idyl subnet get "$S" -o yaml
	[[ "$output" == *$'networkPolicy:\n  egress: restricted\n  allowedEgressCIDRs:\n    - 192.0.2.0/24\n    - 10.0.0.0/8'* ]]
	# no merge: a new mode drops the CIDRs; the runtime policy stays
	run idyl subnet edit "$S" --egress none -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .networkPolicy)" = '{"egress":"none"}' ]
	[ "$(echo "$output" | jq -c .runtimePolicy.allowedIsolationClasses)" = '["container"]' ]
	run idyl subnet edit "$S" --egress restricted --allow-egress-cidr 198.51.100.0/24,203.0.113.7/32 -o json
	[ "$(echo "$output" | jq -c .networkPolicy.allowedEgressCIDRs)" = '["198.51.100.0/24","203.0.113.7/32"]' ]
	# other policy flags leave it alone
	idyl subnet edit "$S" --clear-runtime-policy >/dev/null
	idyl subnet edit "$S" --require-deploy-approval >/dev/null
	[ "$(policy)" = '{"egress":"restricted","allowedEgressCIDRs":["198.51.100.0/24","203.0.113.7/32"]}' ]
	run idyl subnet edit "$S" --egress all -o json
	[ "$(echo "$output" | jq -c .networkPolicy)" = '{"egress":"all"}' ]
	run idyl subnet edit "$S" --clear-network-policy -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c 'has("networkPolicy")')" = false ]
	[ "$(idyl subnet list -o json | jq -c "[.[] | select(.slug == \"$S\") | has(\"networkPolicy\")]")" = '[false]' ]
}

@test "a network policy that cannot be enforced as asked is refused, naming the flag, and nothing changes" {
	S=$(new_subnet --egress restricted --allow-egress-cidr 192.0.2.0/24)
	before=$(policy)
	run idyl subnet edit "$S" --egress restricted --allow-egress-cidr x
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid --allow-egress-cidr "x": want an IPv4 CIDR such as 10.0.0.0/8' ]
	run idyl subnet edit "$S" --egress restricted --allow-egress-cidr 10.0.0.0/33
	[ "$output" = 'error: invalid --allow-egress-cidr "10.0.0.0/33": want an IPv4 CIDR such as 10.0.0.0/8' ]
	run idyl subnet edit "$S" --egress restricted --allow-egress-cidr 10.0.0.1
	[ "$output" = 'error: invalid --allow-egress-cidr "10.0.0.1": want an IPv4 CIDR such as 10.0.0.0/8' ]
	run idyl subnet edit "$S" --egress restricted
	[ "$status" -eq 1 ]
	[ "$output" = 'error: --egress restricted requires at least one --allow-egress-cidr' ]
	run idyl subnet edit "$S" --allow-egress-cidr 10.0.0.0/8
	[ "$status" -eq 1 ]
	[ "$output" = 'error: --allow-egress-cidr requires --egress restricted' ]
	run idyl subnet edit "$S" --egress all --allow-egress-cidr 10.0.0.0/8
	[ "$output" = 'error: --allow-egress-cidr requires --egress restricted' ]
	run idyl subnet edit "$S" --egress sometimes
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid --egress "sometimes": valid values are none, restricted, all' ]
	run idyl subnet edit "$S" --egress restricted --allow-egress-cidr 10.0.0.0/8,10.9.0.0/8
	[ "$output" = 'error: duplicate --allow-egress-cidr "10.9.0.0/8"' ]
	run idyl subnet edit "$S" --clear-network-policy --egress none
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'error: --clear-network-policy cannot be combined with --egress or --allow-egress-cidr' ]
	[ "$(policy)" = "$before" ]
	# a refused create makes no subnet
	n=$(subnet_count)
	run idyl subnet create --region us-east --egress restricted
	[ "$status" -eq 1 ]
	[ "$(subnet_count)" = "$n" ]
}

@test "the API validates networkPolicy the same way: 400 with the message, nothing written" {
	S=$(new_subnet)
	expect_errors <<-EOF
		PATCH /v1/subnets/$S|{"networkPolicy": {"egress": "restricted", "allowedEgressCIDRs": ["300.0.0.0/8"]}}|400 invalid_argument|invalid --allow-egress-cidr "300.0.0.0/8": want an IPv4 CIDR such as 10.0.0.0/8
		PATCH /v1/subnets/$S|{"networkPolicy": {"egress": "none", "ports": [80]}}|400 invalid_argument|
		PATCH /v1/subnets/$S|{"networkPolicy": {}}|400 invalid_argument|--egress is required when setting a network policy (valid values: none, restricted, all)
		PATCH /v1/subnets/$S|{"networkPolicy": "none"}|400 invalid_argument|field "networkPolicy" must be an object or null
	EOF
	[ "$(policy)" = null ]
	run api PATCH "/v1/subnets/$S" '{"networkPolicy": {"egress": "restricted", "allowedEgressCIDRs": ["192.0.2.0/24"]}}'
	[ "${lines[1]}" = 200 ]
	[ "$(echo "${lines[0]}" | jq -c .networkPolicy)" = '{"egress":"restricted","allowedEgressCIDRs":["192.0.2.0/24"]}' ]
	run api PATCH "/v1/subnets/$S" '{"networkPolicy": null}'
	[ "${lines[1]}" = 200 ]
	[ "$(policy)" = null ]
}

@test "a workload that runs nowhere has no status.ip" {
	S=$(new_subnet --egress none)
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	run idyl workload get web --subnet "$S" -o json
	[ "$(echo "$output" | jq -r .status.phase)" = pending ]
	[ "$(echo "$output" | jq -c '.status | has("ip")')" = false ]
}
