#!/usr/bin/env bats
# An acknowledged write is durable: kill -9 idyld at a random moment while
# clients create subnets and deploy workloads; after a restart on the same
# data directory every acknowledged create (CLI exit 0, slug printed) and
# every acknowledged deploy is there, and slugs are never handed out twice.
load helper

setup() { start_idyld; }
teardown() {
	for pid in ${WRITER_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
	stop_idyld
	[ -z "${SMALL_DISK:-}" ] || umount "$SMALL_DISK"
}

# Creates subnets (and a workload in every other one) until idyld stops
# answering or $STOP exists. Appends "slug" per acknowledged create and
# "slug name" per acknowledged deploy to $ACKS.
writer() {
	local i=0 slug
	while [ ! -e "$STOP" ]; do
		i=$((i + 1))
		slug=$(idyl subnet create --region us-east --allowed-isolation-class container,microvm \
			--default-isolation-class microvm -o json 2>/dev/null | jq -r '.slug // empty') || break
		[ -n "$slug" ] || break
		echo "$slug" >>"$ACKS"
		if [ $((i % 2)) = 0 ]; then
			idyl deploy nginx:1.27-alpine --name "w$i" --subnet "$slug" --cpu 250m \
				-o json >/dev/null 2>&1 || break
			echo "$slug w$i" >>"$ACKS"
		fi
	done
}

# Kills idyld with SIGKILL at a random moment (0-0.9 s after the first
# acknowledged write) while three concurrent clients write, then restarts
# it on the same data directory.
crash_and_restart() {
	rm -f "$STOP"
	WRITER_PIDS=
	for _ in 1 2 3; do
		writer &
		WRITER_PIDS="$WRITER_PIDS $!"
	done
	# at least one write first, so every round proves something
	local start
	start=$(wc -l <"$ACKS")
	for _ in $(seq 100); do
		[ "$(wc -l <"$ACKS")" -gt "$start" ] && break
		sleep 0.05
	done
	sleep "0.$((RANDOM % 10))"
	kill -9 "$IDYLD_PID"
	wait "$IDYLD_PID" 2>/dev/null || true
	IDYLD_PID=
	touch "$STOP"
	for pid in $WRITER_PIDS; do wait "$pid" || true; done
	WRITER_PIDS=
	start_idyld "$BATS_TEST_TMPDIR/data"
}

@test "every acknowledged subnet create and deploy survives kill -9" {
	ACKS=$BATS_TEST_TMPDIR/acks
	STOP=$BATS_TEST_TMPDIR/stop
	: >"$ACKS"
	for round in 1 2 3; do
		before=$(wc -l <"$ACKS")
		crash_and_restart
		after=$(wc -l <"$ACKS")
		echo "round $round: $((after - before)) acknowledged writes"
		[ "$after" -gt "$before" ] # the round really wrote something
	done

	idyl subnet list -o json | jq -r '.[].slug' | sort >"$BATS_TEST_TMPDIR/present"
	missing=0
	while read -r slug name; do
		if [ -z "$name" ]; then
			grep -qx "$slug" "$BATS_TEST_TMPDIR/present" || { echo "lost subnet $slug"; missing=1; }
			continue
		fi
		run idyl workload get "$name" --subnet "$slug" -o json
		if [ "$status" -ne 0 ]; then
			echo "lost workload $name in $slug"
			missing=1
			continue
		fi
		[ "$(echo "$output" | jq -c '[.revision, .status.isolation]')" = \
			'[1,{"class":"microvm","source":"subnet-default"}]' ]
		[ "$(echo "$output" | jq -c .spec.resources)" = '{"cpu":0.25,"memory":"128Mi","gpus":0}' ]
	done <"$ACKS"
	[ "$missing" = 0 ]

	# acknowledged slugs are unique, and the next one comes after all of them
	[ -z "$(grep -v ' ' "$ACKS" | sort | uniq -d)" ]
	last=$(sort "$BATS_TEST_TMPDIR/present" | tail -1)
	next=$(new_subnet)
	[ "$next" -gt "$last" ]
}

@test "a restart without a crash keeps subnets, policies and workloads as they were" {
	slug=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm \
		--allowed-vmm-backend firecracker --require-deploy-approval)
	idyl deploy nginx:1.27-alpine --name web --subnet "$slug" >/dev/null
	subnet_before=$(idyl subnet get "$slug" -o yaml)
	workload_before=$(idyl workload get web --subnet "$slug" -o json | jq -c 'del(.status.placement)')
	token_before=$IDYL_TOKEN
	kill -9 "$IDYLD_PID"
	wait "$IDYLD_PID" 2>/dev/null || true
	start_idyld "$BATS_TEST_TMPDIR/data"
	[ "$IDYL_TOKEN" = "$token_before" ] # the operator credential is not rewritten
	[ "$(idyl subnet get "$slug" -o yaml)" = "$subnet_before" ]
	[ "$(idyl workload get web --subnet "$slug" -o json | jq -c 'del(.status.placement)')" = "$workload_before" ]
}

@test "on a full disk writes fail cleanly and deletes still free space" {
	stop_idyld
	SMALL_DISK=$BATS_TEST_TMPDIR/small
	mkdir -p "$SMALL_DISK"
	mount -t tmpfs -o size=24m tmpfs "$SMALL_DISK"
	start_idyld "$SMALL_DISK/d"
	slug=$(new_subnet)
	for i in 1 2 3; do idyl deploy nginx --name "w$i" --subnet "$slug" >/dev/null; done
	[ "$(stat -c %s "$SMALL_DISK/d/idyl.reserve")" = 16777216 ]
	dd if=/dev/zero of="$SMALL_DISK/fill" bs=1M 2>/dev/null || true
	[ "$(df --output=avail "$SMALL_DISK" | tail -n1 | tr -d ' ')" = 0 ]
	run idyl deploy nginx --name w4 --subnet "$slug"
	[ "$status" -eq 1 ]
	[ "$output" = "error: sqlite: COMMIT: database or disk is full" ]
	grep -q 'the disk is full: released the 16 MiB reserve' "$BATS_TEST_TMPDIR/idyld.log"
	[ ! -e "$SMALL_DISK/d/idyl.reserve" ]
	# the API can still free space: deletes succeed while the filler stays
	run idyl workload delete w1 --subnet "$slug"
	[ "$status" -eq 0 ]
	run idyl workload delete w2 --subnet "$slug"
	[ "$status" -eq 0 ]
	[ "$(idyl workload list --subnet "$slug" -o json | jq -c 'map(.name)')" = '["w3"]' ]
	# nothing acknowledged was lost, and a restart with room takes the reserve again
	rm "$SMALL_DISK/fill"
	stop_idyld
	start_idyld "$SMALL_DISK/d"
	[ "$(idyl workload list --subnet "$slug" -o json | jq -c 'map(.name)')" = '["w3"]' ]
	[ "$(stat -c %s "$SMALL_DISK/d/idyl.reserve")" = 16777216 ]
}
