#!/usr/bin/env bats
# idyl deploy and idyl workload get|list|delete|events: the examples of
# "Workload admission behavior" in product-docs/subnet-runtime-policy.txt,
# the recorded isolation class and its source, revisions, output formats,
# and field validation. A rejected deploy is not stored. No nodes run here,
# so admitted workloads stay pending.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

NOT_ALLOWED='isolation.class "container" is not allowed by subnet runtimePolicy'
REQUIRED='isolation.class is required by subnet runtimePolicy'

# ---- the documented examples ---------------------------------------------

@test "doc: an explicit microvm workload is accepted by a microvm subnet" {
	subnet=$(new_subnet --allowed-isolation-class microvm)
	run --separate-stderr idyl deploy nginx:1.27-alpine \
		--name web \
		--subnet $subnet \
		--platform linux/amd64 \
		--isolation-class microvm
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "NAME  IMAGE              CLASS    PHASE    NODE  AGE" ]
	[[ "${lines[1]}" =~ ^"web   nginx:1.27-alpine  microvm  pending  -     "[0-9]+s$ ]]
	[ -z "$stderr" ]
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.revision, .status.phase, .status.isolation]')" = \
		'[1,"pending",{"class":"microvm","source":"explicit"}]' ]
}

@test "doc: a workload without a class is accepted only when the subnet has a default" {
	with_default=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	strict=$(new_subnet --allowed-isolation-class microvm)

	subnet=$with_default
	run idyl deploy nginx:1.27-alpine \
		--name web \
		--subnet $subnet \
		--platform linux/amd64
	[ "$status" -eq 0 ]
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c .status.isolation)" = '{"class":"microvm","source":"subnet-default"}' ]
	# the spec shows what was requested: no class
	[ "$(echo "$output" | jq -c .spec)" = '{"image":"nginx:1.27-alpine","platform":"linux/amd64","resources":{"cpu":0.1,"memory":"128Mi","gpus":0}}' ]

	subnet=$strict
	run --separate-stderr idyl deploy nginx:1.27-alpine \
		--name web \
		--subnet $subnet \
		--platform linux/amd64
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: $REQUIRED" ]
	[ -z "$output" ]
	[ "$(workload_count "$strict")" = 0 ]
}

@test "doc: an explicit container workload is rejected by a microvm-only subnet" {
	for flags in "" "--default-isolation-class microvm" "--allowed-vmm-backend firecracker"; do
		# shellcheck disable=SC2086
		subnet=$(new_subnet --allowed-isolation-class microvm $flags)
		run --separate-stderr idyl deploy nginx:1.27-alpine \
			--name web \
			--subnet $subnet \
			--platform linux/amd64 \
			--isolation-class container
		[ "$status" -eq 1 ]
		[ "$stderr" = "error: $NOT_ALLOWED" ]
		[ -z "$output" ]
		[ "$(workload_count "$subnet")" = 0 ]
		run api GET "/v1/subnets/$subnet/workloads/web/events"
		[ "${lines[-1]}" = 404 ]
	done
}

@test "API: rejected deploys answer 422 with a stable code, nothing stored" {
	strict=$(new_subnet --allowed-isolation-class microvm)
	run api POST "/v1/subnets/$strict/workloads" \
		'{"name":"web","spec":{"image":"nginx:1.27-alpine","platform":"linux/amd64","isolation":{"class":"container"}}}'
	[ "${lines[1]}" = 422 ]
	[ "$(echo "${lines[0]}" | jq -c .)" = '{"error":{"code":"isolation_class_not_allowed","message":"isolation.class \"container\" is not allowed by subnet runtimePolicy"}}' ]
	run api POST "/v1/subnets/$strict/workloads" '{"name":"web","spec":{"image":"nginx:1.27-alpine","platform":"linux/amd64"}}'
	[ "${lines[1]}" = 422 ]
	[ "$(echo "${lines[0]}" | jq -c .)" = '{"error":{"code":"isolation_class_required","message":"isolation.class is required by subnet runtimePolicy"}}' ]
	[ "$(workload_count "$strict")" = 0 ]
}

@test "a container default in a two-class subnet; microvm still allowed explicitly" {
	subnet=$(new_subnet --allowed-isolation-class container,microvm --default-isolation-class container)
	idyl deploy nginx --name a --subnet "$subnet" >/dev/null
	idyl deploy nginx --name b --subnet "$subnet" --isolation-class microvm >/dev/null
	run idyl workload list --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.[] | [.name, .status.isolation.class, .status.isolation.source]]')" = \
		'[["a","container","subnet-default"],["b","microvm","explicit"]]' ]
	# two classes, no default: each workload must say which
	subnet=$(new_subnet --allowed-isolation-class container,microvm)
	run --separate-stderr idyl deploy nginx --name a --subnet "$subnet"
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: $REQUIRED" ]
}

@test "no policy: the class is container from no-policy, or as requested" {
	subnet=$(new_subnet)
	idyl deploy nginx --name a --subnet "$subnet" >/dev/null
	idyl deploy nginx --name b --subnet "$subnet" --isolation-class microvm >/dev/null
	run idyl workload list --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.[] | .status.isolation]')" = \
		'[{"class":"container","source":"no-policy"},{"class":"microvm","source":"explicit"}]' ]
}

# ---- the recorded class does not move -------------------------------------

@test "the recorded class and source do not change when the subnet default changes" {
	subnet=$(new_subnet --allowed-isolation-class container,microvm --default-isolation-class microvm)
	idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" >/dev/null
	idyl subnet edit "$subnet" --allowed-isolation-class container,microvm \
		--default-isolation-class container >/dev/null
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.revision, .status.phase, .status.isolation]')" = \
		'[1,"pending",{"class":"microvm","source":"subnet-default"}]' ]
	# an identical redeploy is a no-op: still revision 1, still microvm
	run idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c '[.revision, .status.isolation]')" = \
		'[1,{"class":"microvm","source":"subnet-default"}]' ]
	# clearing the policy does not touch it either
	idyl subnet edit "$subnet" --clear-runtime-policy >/dev/null
	[ "$(idyl workload get web --subnet "$subnet" -o json | jq -c .status.isolation)" = \
		'{"class":"microvm","source":"subnet-default"}' ]
	# a new revision is admitted afresh, under the policy of its time
	run idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" --memory 256Mi -o json
	[ "$(echo "$output" | jq -c '[.revision, .status.isolation]')" = \
		'[2,{"class":"container","source":"no-policy"}]' ]
}

# ---- revisions ----------------------------------------------------------------

@test "a changed spec is revision 2; an identical spec changes nothing" {
	subnet=$(new_subnet)
	run api POST "/v1/subnets/$subnet/workloads" '{"name":"web","spec":{"image":"nginx:1.27-alpine","env":{"B":"2","A":"1"}}}'
	[ "${lines[1]}" = 201 ]
	[ "$(echo "${lines[0]}" | jq .revision)" = 1 ]
	wait_workload "$subnet" web '.status.placement != null'
	events_before=$(idyl workload events web --subnet "$subnet" -o json | jq length)

	# identical, even with the variables in another order: 200, revision 1
	run idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" --env A=1 --env B=2 -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .revision)" = 1 ]
	[ "$(echo "$output" | jq -c .spec.env)" = '{"A":"1","B":"2"}' ]
	[ "$(idyl workload events web --subnet "$subnet" -o json | jq length)" = "$events_before" ]
	# defaults written out are the same spec too
	run idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" --env A=1 --env B=2 \
		--cpu 100m --memory 128Mi --gpus 0 -o json
	[ "$(echo "$output" | jq .revision)" = 1 ]

	run idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" --env A=1 --env B=3 -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c '[.revision, .status.phase, .spec.env]')" = '[2,"pending",{"A":"1","B":"3"}]' ]
	run idyl deploy nginx:1.28-alpine --name web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq .revision)" = 3 ]
	run idyl deploy nginx:1.28-alpine --name web --subnet "$subnet" -o json -- nginx -g 'daemon off;'
	[ "$(echo "$output" | jq -c '[.revision, .spec.command]')" = '[4,["nginx","-g","daemon off;"]]' ]
	[ "$(workload_count "$subnet")" = 1 ]
	run idyl workload events web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.[] | select(.type == "Admitted") | .revision]')" = '[1,2,3,4]' ]

	# the same name in another subnet is another workload
	other=$(new_subnet)
	run idyl deploy nginx:1.27-alpine --name web --subnet "$other" -o json
	[ "$(echo "$output" | jq .revision)" = 1 ]
}

@test "a rejected redeploy leaves the stored revision as it was" {
	subnet=$(new_subnet --allowed-isolation-class microvm)
	idyl deploy nginx --name web --subnet "$subnet" --isolation-class microvm >/dev/null
	before=$(idyl workload get web --subnet "$subnet" -o json | jq -c 'del(.status)')
	run --separate-stderr idyl deploy nginx:2 --name web --subnet "$subnet" --isolation-class container
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: $NOT_ALLOWED" ]
	[ "$(idyl workload get web --subnet "$subnet" -o json | jq -c 'del(.status)')" = "$before" ]
}

# ---- get, list, delete, events ---------------------------------------------------

@test "workload get -o yaml is the SPEC 2 object; pending with the scheduler's reason" {
	subnet=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" --platform linux/amd64 \
		--isolation-class microvm --cpu 0.5 --memory 256Mi >/dev/null
	wait_workload "$subnet" web '.status.placement != null'
	run idyl workload get web --subnet "$subnet" -o yaml
	[ "$status" -eq 0 ]
	# quoted: a YAML 1.1 reader would take it for a timestamp, not a string
	[[ "${lines[3]}" =~ ^createdAt:\ \"20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:]{8}Z\"$ ]]
	[ "$(echo "$output" | grep -v '^createdAt:')" = 'name: web
subnet: "100000000001"
revision: 1
spec:
  image: nginx:1.27-alpine
  platform: linux/amd64
  isolation:
    class: microvm
  resources:
    cpu: 0.5
    memory: 256Mi
    gpus: 0
status:
  phase: pending
  isolation:
    class: microvm
    source: explicit
  node: null
  runtimeProfile: null
  message: no available nodes in subnet 100000000001 support requested isolation class microvm
  restarts: 0
  placement:
    nodesEvaluated: 0
    outcome: no_compatible_nodes
    filtered: {}' ]
}

@test "workload get and list in table, yaml and json" {
	subnet=$(new_subnet --allowed-isolation-class container,microvm --default-isolation-class container)
	idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" >/dev/null
	idyl deploy redis:7 --name cache --subnet "$subnet" --isolation-class microvm --gpus 1 >/dev/null
	run idyl workload get web --subnet "$subnet"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" = 2 ]
	# get shows the reason: why it waits, or where it went
	[ "${lines[0]}" = "NAME  IMAGE              CLASS      PHASE    NODE  AGE  REASON" ]
	[[ "${lines[1]}" =~ ^"web   nginx:1.27-alpine  container  pending  -     "[0-9]+s"   no available nodes in subnet $subnet support requested isolation class container"$ ]]
	run idyl workload list --subnet "$subnet"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" = 3 ]
	[ "${lines[0]}" = "NAME   IMAGE              CLASS      PHASE    NODE  AGE" ]
	[[ "${lines[1]}" =~ ^"cache  redis:7            microvm    pending  -     "[0-9]+s$ ]]
	[[ "${lines[2]}" =~ ^"web    nginx:1.27-alpine  container  pending  -     "[0-9]+s$ ]]
	run idyl workload list --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c 'map({name, subnet, revision, spec, class: .status.isolation})')" = \
		'[{"name":"cache","subnet":"100000000001","revision":1,"spec":{"image":"redis:7","isolation":{"class":"microvm"},"resources":{"cpu":0.1,"memory":"128Mi","gpus":1}},"class":{"class":"microvm","source":"explicit"}},{"name":"web","subnet":"100000000001","revision":1,"spec":{"image":"nginx:1.27-alpine","resources":{"cpu":0.1,"memory":"128Mi","gpus":0}},"class":{"class":"container","source":"subnet-default"}}]' ]
	run idyl workload list --subnet "$subnet" -o yaml
	[ "$(echo "$output" | grep -E '^(- name|    image|    isolation|      class):')" = '- name: cache
    image: redis:7
    isolation:
      class: microvm
    isolation:
      class: microvm
- name: web
    image: nginx:1.27-alpine
    isolation:
      class: container' ]
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -r '.status | [.phase, .node, .runtimeProfile] | @json')" = '["pending",null,null]' ]
	run idyl workload list --subnet "$(new_subnet)"
	[ "$output" = "NAME  IMAGE  CLASS  PHASE  NODE  AGE" ]
}

@test "workload delete removes it and its events; unknown names are errors" {
	subnet=$(new_subnet)
	idyl deploy nginx --name web --subnet "$subnet" >/dev/null
	idyl deploy nginx --name api --subnet "$subnet" >/dev/null
	run idyl workload delete web --subnet "$subnet"
	[ "$status" -eq 0 ]
	[ "$output" = 'workload "web" deleted' ]
	[ "$(idyl workload list --subnet "$subnet" -o json | jq -r '.[].name')" = api ]
	for cmd in get delete events; do
		run --separate-stderr idyl workload $cmd web --subnet "$subnet"
		[ "$status" -eq 1 ]
		[ "$stderr" = "error: workload \"web\" not found in subnet \"$subnet\"" ]
	done
	# deployed again, it starts over at revision 1 with fresh events
	run idyl deploy nginx --name web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq .revision)" = 1 ]
	[ "$(idyl workload events web --subnet "$subnet" -o json | jq -c '[.[] | .revision] | unique')" = '[1]' ]
}

@test "workload events say what happened, in order" {
	subnet=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	idyl deploy nginx --name web --subnet "$subnet" >/dev/null
	wait_workload "$subnet" web '.status.placement != null'
	run idyl workload events web --subnet "$subnet"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "TIME                  REVISION  TYPE           MESSAGE" ]
	[[ "${lines[1]}" =~ ^20[0-9-]+T[0-9:]+Z"  1         Admitted       revision 1 admitted with isolation class microvm (subnet-default)"$ ]]
	[[ "${lines[2]}" =~ ^20[0-9-]+T[0-9:]+Z"  1         Unschedulable  no available nodes in subnet $subnet support requested isolation class microvm"$ ]]
	run idyl workload events web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c 'map([.revision, .type])')" = '[[1,"Admitted"],[1,"Unschedulable"]]' ]
}

# ---- validation: exact message, nothing stored -------------------------------------

# Runs `idyl deploy` with $@ into $SUBNET; checks exit $CODE (default 1),
# the message $EXPECT on stderr, and that nothing was stored.
deploy_rejected() {
	run --separate-stderr idyl deploy "$@"
	echo "status=$status stdout=$output stderr=$stderr"
	[ "$status" -eq "${CODE:-1}" ]
	[ "${stderr%%$'\n'*}" = "error: $EXPECT" ]
	[ -z "$output" ]
	[ "$(workload_count "$SUBNET")" = 0 ]
}

@test "deploy validates name, image, platform, class, cpu, memory, gpus and env" {
	SUBNET=$(new_subnet)
	S=(--subnet "$SUBNET")
	DNS='must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)'
	long=$(printf 'a%.0s' $(seq 64))
	for name in Web -web web- web_1 web.1 "$long"; do
		EXPECT="invalid --name \"$name\": $DNS"
		deploy_rejected nginx --name "$name" "${S[@]}"
	done
	EXPECT='invalid image "ngi nx": want a reference such as nginx:1.27-alpine or registry.example.com/app@sha256:...'
	deploy_rejected 'ngi nx' --name web "${S[@]}"
	EXPECT='an image is required: idyl deploy IMAGE'
	deploy_rejected '' --name web "${S[@]}"
	for p in linux Linux/amd64 linux/amd64/v8/x /linux; do
		EXPECT="invalid --platform \"$p\": want os/arch such as linux/amd64 or linux/arm64/v8"
		deploy_rejected nginx --name web "${S[@]}" --platform "$p"
	done
	EXPECT='invalid --isolation-class "kata": valid values are container, microvm'
	deploy_rejected nginx --name web "${S[@]}" --isolation-class kata
	for c in 0 -1 abc 1e9; do
		EXPECT="invalid --cpu \"$c\": want cores > 0 such as 0.5 or 2, or millicores such as 500m"
		deploy_rejected nginx --name web "${S[@]}" --cpu "$c"
	done
	EXPECT='invalid --cpu "0.0001": at most 3 decimals (1m is the smallest unit)'
	deploy_rejected nginx --name web "${S[@]}" --cpu 0.0001
	for m in 256MB 0 -1Mi 1.5Gi Mi; do
		EXPECT="invalid --memory \"$m\": want a size > 0 such as 256Mi, 1Gi or 512M"
		deploy_rejected nginx --name web "${S[@]}" --memory "$m"
	done
	for g in -1 65 1.5 two; do
		EXPECT="invalid --gpus \"$g\": want a whole number from 0 to 64"
		deploy_rejected nginx --name web "${S[@]}" --gpus "$g"
	done
	for p in 0 -1 1.5 4194305; do
		EXPECT="invalid --pids-limit \"$p\": want a whole number from 1 to 4194304"
		deploy_rejected nginx --name web "${S[@]}" --pids-limit "$p"
	done
	for t in 0s 1h 10ms soon; do
		EXPECT="invalid --stop-timeout \"$t\": want a duration from 1s to 5m such as 10s"
		deploy_rejected nginx --name web "${S[@]}" --stop-timeout "$t"
	done
	EXPECT='invalid --env "FOO": want K=V'
	deploy_rejected nginx --name web "${S[@]}" --env FOO
	EXPECT='invalid --env "=b": want K=V'
	deploy_rejected nginx --name web "${S[@]}" --env =b
	EXPECT='invalid --env name "1A": want K=V with K matching [A-Za-z_][A-Za-z0-9_]*'
	deploy_rejected nginx --name web "${S[@]}" --env 1A=b
	EXPECT='duplicate --env "A"'
	deploy_rejected nginx --name web "${S[@]}" --env A=1 --env A=2
	EXPECT='subnet "100000000999" not found'
	deploy_rejected nginx --name web --subnet 100000000999

	CODE=2
	EXPECT='--name is required'
	deploy_rejected nginx "${S[@]}"
	EXPECT='--subnet is required'
	deploy_rejected nginx --name web
	EXPECT='missing argument IMAGE'
	deploy_rejected --name web "${S[@]}"
	EXPECT='"--" must be followed by a command'
	deploy_rejected nginx --name web "${S[@]}" --

	# the accepted forms of the same fields
	run idyl deploy registry.example.com/team/app@sha256:0123abcd --name a-1 "${S[@]}" \
		--platform linux/arm64/v8 --cpu 250m --memory 1Gi --gpus 2 --env _X=a=b --env Y= -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .spec)" = '{"image":"registry.example.com/team/app@sha256:0123abcd","platform":"linux/arm64/v8","resources":{"cpu":0.25,"memory":"1Gi","gpus":2},"env":{"Y":"","_X":"a=b"}}' ]
	run idyl deploy nginx --name "$(printf 'a%.0s' $(seq 63))" "${S[@]}" --cpu 2 --memory 512M
	[ "$status" -eq 0 ]
}

@test "with no nodes, admitted workloads stay pending" {
	subnet=$(new_subnet)
	idyl deploy nginx --name web --subnet "$subnet" >/dev/null
	wait_workload "$subnet" web '.status.placement != null'
	sleep 1
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.status.phase, .status.node, .status.message, .status.placement]')" = \
		"[\"pending\",null,\"no available nodes in subnet $subnet support requested isolation class container\",{\"nodesEvaluated\":0,\"outcome\":\"no_compatible_nodes\",\"filtered\":{}}]" ]
}
