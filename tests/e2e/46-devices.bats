#!/usr/bin/env bats
# Device access (SPEC 6.4): the subnet's devicePolicy decides which host
# devices a workload may ask for (422 otherwise), providers declare the
# devices a node offers (checked to be character or block devices), and the
# scheduler places a workload only where every device it asks for is offered
# (device_unavailable, with the capacity/generic message).
load helper

setup() {
	start_idyld
}

teardown() { end_hollow_test; }

wl() { idyl workload get "$1" --subnet "$S" -o json; }
message_is() { [ "$(wl "$1" | jq -r .status.message)" = "$2" ]; }
node_of() { [ "$(wl "$1" | jq -r .status.node)" = "$2" ]; }

@test "devicePolicy is set, replaced and cleared, separately from runtimePolicy" {
	S=$(new_subnet --allowed-isolation-class container --allow-device /dev/fuse)
	run idyl subnet get "$S" -o json
	[ "$(echo "$output" | jq -c .devicePolicy)" = '{"allowedDevices":["/dev/fuse"]}' ]
	[ "$(echo "$output" | jq -c .runtimePolicy.allowedIsolationClasses)" = '["container"]' ]
	# the list replaces the previous one; runtime policy stays
	run idyl subnet edit "$S" --allow-device /dev/kvm --allow-device /dev/net/tun -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .devicePolicy)" = '{"allowedDevices":["/dev/kvm","/dev/net/tun"]}' ]
	[ "$(echo "$output" | jq -c .runtimePolicy.allowedIsolationClasses)" = '["container"]' ]
	# runtime policy flags leave the device policy alone
	run idyl subnet edit "$S" --clear-runtime-policy -o json
	[ "$(echo "$output" | jq -c .devicePolicy.allowedDevices)" = '["/dev/kvm","/dev/net/tun"]' ]
	run idyl subnet edit "$S" --clear-device-policy --allow-device /dev/fuse
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "error: --clear-device-policy cannot be combined with --allow-device" ]
	run idyl subnet edit "$S" --allow-device /etc/passwd
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid --allow-device "/etc/passwd": want a device path under /dev/ such as /dev/fuse' ]
	run idyl subnet edit "$S" --allow-device /dev/../etc/passwd
	[ "$status" -eq 1 ]
	run idyl subnet edit "$S" --allow-device /dev/fuse,/dev/fuse
	[ "$status" -eq 1 ]
	[ "$output" = 'error: duplicate --allow-device "/dev/fuse"' ]
	# nothing of the refused edits was written
	[ "$(idyl subnet get "$S" -o json | jq -c .devicePolicy.allowedDevices)" = '["/dev/kvm","/dev/net/tun"]' ]
	run idyl subnet edit "$S" --clear-device-policy -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c 'has("devicePolicy")')" = false ]
}

@test "a device the subnet does not allow is rejected at admission with 422" {
	S=$(new_subnet)
	run idyl deploy nginx --name web --subnet "$S" --device /dev/fuse
	[ "$status" -eq 1 ]
	[ "$output" = 'error: device "/dev/fuse" is not allowed by subnet devicePolicy' ]
	idyl subnet edit "$S" --allow-device /dev/kvm >/dev/null
	run api POST "/v1/subnets/$S/workloads" '{"name":"web","spec":{"image":"nginx","devices":["/dev/kvm","/dev/fuse"]}}'
	[ "${lines[-1]}" = 422 ]
	[ "$(echo "${lines[0]}" | jq -c .error)" = '{"code":"device_not_allowed","message":"device \"/dev/fuse\" is not allowed by subnet devicePolicy"}' ]
	run idyl deploy nginx --name web --subnet "$S" --device /etc/passwd
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid --device "/etc/passwd": want a device path under /dev/ such as /dev/fuse' ]
	run idyl deploy nginx --name web --subnet "$S" --device /dev/kvm --device /dev/kvm
	[ "$output" = 'error: duplicate --device "/dev/kvm"' ]
	[ "$(workload_count "$S")" = 0 ]
	run idyl deploy nginx --name web --subnet "$S" --device /dev/kvm -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .spec.devices)" = '["/dev/kvm"]' ]
}

@test "hollow nodes with and without the device: device_unavailable with the capacity message" {
	S=$(new_subnet --allow-device /dev/fuse)
	start_sim --subnet "$S" --count 2 --runtime-profile docker --name-prefix plain
	idyl deploy nginx --name fuse --subnet "$S" --device /dev/fuse >/dev/null
	idyl deploy nginx --name none --subnet "$S" >/dev/null
	wait_until 5 message_is fuse "no nodes available in subnet $S with sufficient capacity and generic requirements"
	[ "$(wl fuse | jq -c .status.placement)" = \
		'{"nodesEvaluated":2,"outcome":"insufficient_capacity","filtered":{"device_unavailable":2}}' ]
	[ "$(wl fuse | jq -r .status.phase)" = pending ]
	wait_until 5 node_of none plain-0
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix fuse --device /dev/fuse
	wait_until 5 node_of fuse fuse-0
	run idyl node get --subnet "$S" -o json
	[ "$(echo "$output" | jq -c 'map({(.name): .devices}) | add')" = \
		'{"fuse-0":["/dev/fuse"],"plain-0":[],"plain-1":[]}' ]
}

@test "node join accepts character and block devices, refuses others, and Kata takes block devices only" {
	S=$(new_subnet)
	export IDYL_NODE_DIR=$BATS_TEST_TMPDIR/node
	run idyl node join --subnet "$S" --runtime-profile docker --name n1 --device /dev/null -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .devices)" = '["/dev/null"]' ]
	run idyl node join --subnet "$S" --runtime-profile docker --name n2 --device /dev/shm
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid --device "/dev/shm": not a character or block device' ]
	run idyl node join --subnet "$S" --runtime-profile docker --name n2 --device /dev/nonexistent
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid --device "/dev/nonexistent": No such file or directory' ]
	run idyl node join --subnet "$S" --runtime-profile containerd-kata-qemu --name n3 --device /dev/null
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid --device "/dev/null": a character device, and Kata passes only block devices into a microVM' ]
	if [ -b /dev/loop0 ]; then
		run idyl node join --subnet "$S" --runtime-profile containerd-kata-qemu --name n3 --device /dev/loop0 -o json
		[ "$status" -eq 0 ]
		[ "$(echo "$output" | jq -c .devices)" = '["/dev/loop0"]' ]
	fi
	[ "$(idyl node get --subnet "$S" -o json | jq -c 'map(.name)')" = "$([ -b /dev/loop0 ] && echo '["n1","n3"]' || echo '["n1"]')" ]
}

@test "a devicePolicy edit rejects waiting workloads it no longer admits and warns about placed ones" {
	S=$(new_subnet --allow-device /dev/fuse)
	start_sim --subnet "$S" --count 1 --runtime-profile docker --name-prefix fuse --device /dev/fuse
	idyl deploy nginx --name run --subnet "$S" --device /dev/fuse >/dev/null
	idyl deploy nginx --name wait --subnet "$S" --device /dev/fuse --cpu 100 >/dev/null
	idyl deploy nginx --name none --subnet "$S" --cpu 100 >/dev/null
	wait_until 5 node_of run fuse-0
	run idyl subnet edit "$S" --clear-device-policy -o json
	[ "$status" -eq 0 ]
	[[ "$output" == *'warning: workload run (phase '*'): device "/dev/fuse" is not allowed by subnet devicePolicy; it keeps running'* ]]
	# the waiting one it rejects is listed too, with the device's reason
	[[ "$output" == *'warning: workload wait (phase pending): device "/dev/fuse" is not allowed by subnet devicePolicy; it is rejected'* ]]
	[ "$(wl wait | jq -r .status.phase)" = rejected ]
	[ "$(wl wait | jq -r .status.message)" = 'device "/dev/fuse" is not allowed by subnet devicePolicy' ]
	[ "$(wl none | jq -r .status.phase)" = pending ]
	[ "$(wl run | jq -r .status.node)" = fuse-0 ]
}
