#!/usr/bin/env bats
# Secrets and devices on a real Docker Engine (SPEC 6.3, 6.4): the values
# are inside the workload exactly where asked (files read-only under
# /run/secrets/NAME, env), on a tmpfs the agent owns and nowhere on the
# node's disk; a container that asked for /dev/fuse sees it, one that did
# not sees none of the host's devices beyond the runtime's defaults.
load helper
load runtime

setup_file() { start_runtime docker; }
teardown_file() { stop_runtime; }

setup() { start_subnet_node --allow-device /dev/fuse -- --device /dev/fuse; }

teardown() { end_runtime_test; }

random_value() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

phase_is() { [ "$(idyl workload get "$1" --subnet "$SUBNET" -o json | jq -r .status.phase)" = "$2" ]; }

logs_of() { # WORKLOAD
	local c
	c=$(workload_containers "$1" | jq -r '.[0].Id')
	docker_api GET "/containers/$c/logs?stdout=1&stderr=1" | tr -d '\000-\010'
}

logs_have() { logs_of "$1" | grep -qa -- "$2"; }

@test "secret files and env reach the container exactly where asked, from the agent's tmpfs" {
	v=$(random_value)
	w=$(random_value)
	idyl secret create db --subnet "$SUBNET" --from-literal "password=$v" --from-literal user=admin >/dev/null
	idyl secret create api --subnet "$SUBNET" --from-literal "API_TOKEN=$w" >/dev/null
	run idyl deploy idyl/busybox:latest --name app --subnet "$SUBNET" --secret db --secret-env api \
		-- sh -c 'echo "file=$(cat /run/secrets/db/password) user=$(cat /run/secrets/db/user)";
			echo "env=$API_TOKEN"; ls /run/secrets; ls /run/secrets/db;
			echo x >/run/secrets/db/password 2>/dev/null || echo read-only; sleep 3600'
	[ "$status" -eq 0 ]
	wait_until 20 phase_is app running
	wait_until 5 logs_have app read-only
	run logs_of app
	[[ "$output" == *"file=$v user=admin"* ]]
	[[ "$output" == *"env=$w"* ]]
	[ "$(echo "$output" | grep -ax 'db' | wc -l)" = 1 ]   # only the --secret one is a directory
	[[ "$output" != *"api"* ]]
	# the bind is read-only and comes from a tmpfs under the agent's directory
	c=$(workload_containers app | jq -r '.[0].Id')
	run docker_api GET "/containers/$c/json"
	[ "$(echo "$output" | jq -c '[.Mounts[] | select(.Destination == "/run/secrets/db") | .RW]')" = '[false]' ]
	src=$(echo "$output" | jq -r '.Mounts[] | select(.Destination == "/run/secrets/db") | .Source')
	[ "$src" = "$IDYL_NODE_DIR/secrets/app/db" ]
	[ "$(stat -f -c %T "$IDYL_NODE_DIR/secrets")" = tmpfs ]
	# the file value is on no disk: not in the node directory (outside the
	# tmpfs), the agent's log, nor idyld's data directory (this workload
	# prints it, so the Engine's log of its output holds it: that is the
	# workload's doing); the env value is in the Engine's container
	# configuration, as the docs say
	run grep -rl --exclude-dir=secrets -- "$v" "$IDYL_NODE_DIR" "$BATS_TEST_TMPDIR/data"
	[ "$status" -eq 1 ]
	run grep -rl -- "$w" "$IDYL_NODE_DIR" "$BATS_TEST_TMPDIR/data"
	[ "$status" -eq 1 ]
	run grep -l -- "$v" "$BATS_FILE_TMPDIR"/d/data/containers/*/config.v2.json
	[ "$status" -eq 1 ]
	grep -ql -- "$w" "$BATS_FILE_TMPDIR"/d/data/containers/*/config.v2.json
	# nor in any answer of the API
	run idyl workload get app --subnet "$SUBNET" -o json
	[[ "$output" != *"$v"* && "$output" != *"$w"* ]]
	# an update reaches the workload when its container next starts
	idyl secret update db --subnet "$SUBNET" --from-literal "password=second" --from-literal user=admin >/dev/null
	docker_api POST "/containers/$c/kill" >/dev/null
	wait_until 15 sh -c "curl -s --unix-socket '$DOCKER_SOCK' 'http://d/containers/$c/logs?stdout=1' | grep -a 'file=second'"
	# deleting the workload removes its secret files from the tmpfs
	idyl workload delete app --subnet "$SUBNET"
	wait_until 10 sh -c "[ ! -e '$IDYL_NODE_DIR/secrets/app' ]"
}

@test "a container that asked for /dev/fuse sees it; one that did not does not" {
	idyl deploy idyl/busybox:latest --name fuse --subnet "$SUBNET" --device /dev/fuse \
		-- sh -c 'ls -l /dev/fuse && echo has-fuse; sleep 3600' >/dev/null
	idyl deploy idyl/busybox:latest --name plain --subnet "$SUBNET" \
		-- sh -c 'ls /dev/fuse 2>/dev/null || echo no-fuse; ls /dev | tr "\n" " "; echo; sleep 3600' >/dev/null
	wait_until 20 phase_is fuse running
	wait_until 20 phase_is plain running
	wait_until 5 logs_have fuse has-fuse
	wait_until 5 logs_have plain no-fuse
	run logs_of fuse
	[[ "$output" == *"crw"*"/dev/fuse"* ]]
	c=$(workload_containers fuse | jq -r '.[0].Id')
	[ "$(docker_api GET "/containers/$c/json" | jq -c '.HostConfig.Devices')" = \
		'[{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse","CgroupPermissions":"rwm"}]' ]
	c=$(workload_containers plain | jq -r '.[0].Id')
	[ "$(docker_api GET "/containers/$c/json" | jq -c '.HostConfig.Devices')" = '[]' ]
	# none of the host's devices beyond the runtime's defaults
	run logs_of plain
	for dev in fuse kvm loop0 loop-control; do
		[[ " $output " != *" $dev "* ]]
	done
}
