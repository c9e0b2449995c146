#!/usr/bin/env bats
# Secrets and devices on a real containerd through CRI (SPEC 6.3, 6.4): the
# container's configuration carries the secret binds read-only from the
# agent's tmpfs, the secret env, and exactly the devices asked for.
load helper
load runtime

setup_file() { start_runtime containerd; }
teardown_file() { stop_runtime; }

setup() { start_subnet_node --allow-device /dev/fuse -- --device /dev/fuse; }

teardown() { end_runtime_test; }

phase_is() { [ "$(idyl workload get "$1" --subnet "$SUBNET" -o json | jq -r .status.phase)" = "$2" ]; }
container_of() { cctr c ls -q "labels.\"io.idyl.workload\"==$1,labels.\"io.cri-containerd.kind\"==container"; }

@test "secret binds, secret env and devices reach the CRI container as asked" {
	v=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	idyl secret create db --subnet "$SUBNET" --from-literal "password=$v" >/dev/null
	idyl secret create api --subnet "$SUBNET" --from-literal API_TOKEN=tok >/dev/null
	idyl deploy idyl/busybox:latest --name app --subnet "$SUBNET" --secret db --secret-env api \
		--device /dev/fuse -- sh -c 'cat /run/secrets/db/password; echo " $API_TOKEN"; ls -l /dev/fuse; sleep 3600' >/dev/null
	idyl deploy idyl/busybox:latest --name plain --subnet "$SUBNET" -- sleep 3600 >/dev/null
	wait_until 30 phase_is app running
	wait_until 30 phase_is plain running
	spec=$(cctr c info "$(container_of app)" | jq -c .Spec)
	[ "$(echo "$spec" | jq -c '[.mounts[] | select(.destination == "/run/secrets/db") | [.source, (.options | index("ro") != null)]]')" = \
		"[[\"$IDYL_NODE_DIR/secrets/app/db\",true]]" ]
	echo "$spec" | jq -e '.process.env | index("API_TOKEN=tok")'
	[ "$(echo "$spec" | jq -c '[.linux.devices[] | .path]')" = '["/dev/fuse"]' ]
	log=$(ls "$IDYL_NODE_DIR"/pods/idyl_app-r1-*/app/0.log)
	wait_until 5 grep -q " stdout F $v tok$" "$log"
	grep -q 'stdout F crw.*/dev/fuse' "$log"
	# the workload that asked for none gets none
	[ "$(cctr c info "$(container_of plain)" | jq -c '[.Spec.linux.devices[]? | .path]')" = '[]' ]
	# no value in the container's stored configuration
	[ -z "$(grep -rls --devices=skip --exclude-dir=secrets --exclude-dir=pods -- "$v" "$BATS_FILE_TMPDIR/c" "$IDYL_NODE_DIR")" ]
}
