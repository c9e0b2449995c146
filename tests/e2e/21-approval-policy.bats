#!/usr/bin/env bats
# Deploy approval (separate from runtime policy, always checked after it)
# and what a runtime policy edit does to existing workloads: warnings for
# placed ones that keep running, rejection for waiting ones.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

# Registers a ready hollow node $2 of runtime profile $3 in subnet $1 through
# the API (operator credential: admitted at once).
join_node() {
	run api POST "/v1/subnets/$1/nodes" "{\"name\":\"$2\",\"platform\":\"linux/amd64\",\"simulated\":true,\"runtime\":{\"profile\":\"$3\",\"ready\":true},\"capacity\":{\"cpu\":8,\"memory\":\"16Gi\",\"gpus\":0}}"
	[ "${lines[-1]}" = 201 ]
}

phases() {
	idyl workload list --subnet "$1" -o json | jq -c 'map([.name, .status.phase])'
}

# ---- deploy approval -------------------------------------------------------------

@test "approval: admitted workloads wait; approve makes them pending" {
	subnet=$(new_subnet --require-deploy-approval --allowed-isolation-class microvm \
		--default-isolation-class microvm)
	run idyl deploy nginx:1.27-alpine --name web --subnet "$subnet"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^"web   nginx:1.27-alpine  microvm  awaiting-approval  -     "[0-9]+s$ ]]
	sleep 0.5 # the scheduler leaves it alone
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.status.phase, .status.message, .status.isolation, .status.node]')" = \
		'["awaiting-approval","waiting for operator approval",{"class":"microvm","source":"subnet-default"},null]' ]

	run --separate-stderr idyl workload approve web --subnet "$subnet" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .status.phase)" = pending ]
	wait_workload "$subnet" web '.status.placement != null'
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -r .status.message)" = \
		"no available nodes in subnet $subnet support requested isolation class microvm" ]
	run idyl workload events web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c 'map([.type, .message])')" = \
		'[["Admitted","revision 1 admitted with isolation class microvm (subnet-default)"],["AwaitingApproval","subnet requires deploy approval"],["Approved","approved by operator"],["Unschedulable","no available nodes in subnet '"$subnet"' support requested isolation class microvm"]]' ]

	# once decided, it cannot be decided again, either way
	for decision in "approve web" "deny web --reason late"; do
		# shellcheck disable=SC2086 # the verb, the workload and the verb's flags
		run --separate-stderr idyl workload $decision --subnet "$subnet"
		[ "$status" -eq 1 ]
		[ "$stderr" = 'error: workload "web" is not awaiting approval (phase pending)' ]
	done
	[ "$(idyl workload get web --subnet "$subnet" -o json | jq -r .status.phase)" = pending ]
}

@test "approval: deny --reason makes it rejected with the reason" {
	subnet=$(new_subnet --require-deploy-approval)
	idyl deploy nginx --name web --subnet "$subnet" >/dev/null
	idyl deploy nginx --name api --subnet "$subnet" >/dev/null
	run idyl workload deny web --subnet "$subnet" --reason "images must come from our registry" -o yaml
	[ "$status" -eq 0 ]
	[[ "$output" == *"
status:
  phase: rejected
"* ]]
	[[ "$output" == *"
  message: 'denied by operator: images must come from our registry'
"* ]]
	run idyl workload events web --subnet "$subnet"
	[[ "${lines[-1]}" =~ "  1         Denied            denied by operator: images must come from our registry"$ ]]
	run idyl workload deny api --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.status.phase, .status.message]')" = \
		'["rejected","denied by operator: no reason given"]' ]
	sleep 0.5
	[ "$(phases "$subnet")" = '[["api","rejected"],["web","rejected"]]' ]
	run --separate-stderr idyl workload approve web --subnet "$subnet"
	[ "$status" -eq 1 ]
	[ "$stderr" = 'error: workload "web" is not awaiting approval (phase rejected)' ]

	# deploying the same spec again asks again: a new revision, awaiting approval
	run idyl deploy nginx --name web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.revision, .status.phase]')" = '[2,"awaiting-approval"]' ]
}

@test "approval: a workload the runtime policy rejects never reaches approval" {
	subnet=$(new_subnet --require-deploy-approval --allowed-isolation-class microvm)
	run --separate-stderr idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" \
		--platform linux/amd64 --isolation-class container
	[ "$status" -eq 1 ]
	[ "$stderr" = 'error: isolation.class "container" is not allowed by subnet runtimePolicy' ]
	run --separate-stderr idyl deploy nginx:1.27-alpine --name web --subnet "$subnet"
	[ "$status" -eq 1 ]
	[ "$stderr" = 'error: isolation.class is required by subnet runtimePolicy' ]
	[ "$(workload_count "$subnet")" = 0 ]
	run --separate-stderr idyl workload approve web --subnet "$subnet"
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: workload \"web\" not found in subnet \"$subnet\"" ]
	# an explicit microvm passes the policy and then waits for approval
	run idyl deploy nginx:1.27-alpine --name web --subnet "$subnet" --isolation-class microvm -o json
	[ "$(echo "$output" | jq -r .status.phase)" = awaiting-approval ]
}

@test "approval: approve or deny outside an approval subnet is a conflict" {
	subnet=$(new_subnet)
	idyl deploy nginx --name web --subnet "$subnet" >/dev/null
	run --separate-stderr idyl workload approve web --subnet "$subnet"
	[ "$status" -eq 1 ]
	[ "$stderr" = 'error: workload "web" is not awaiting approval (phase pending)' ]
	run api POST "/v1/subnets/$subnet/workloads/web/deny" '{"reason":"no"}'
	[ "${lines[-1]}" = 409 ]
	[ "$(echo "${lines[0]}" | jq -r .error.code)" = conflict ]
	[ "$(idyl workload get web --subnet "$subnet" -o json | jq -r .status.phase)" = pending ]
}

@test "approval: turning it off does not release waiting workloads by itself" {
	subnet=$(new_subnet --require-deploy-approval)
	idyl deploy nginx --name early --subnet "$subnet" >/dev/null
	idyl subnet edit "$subnet" --no-deploy-approval >/dev/null
	idyl deploy nginx --name late --subnet "$subnet" >/dev/null
	sleep 0.5
	[ "$(phases "$subnet")" = '[["early","awaiting-approval"],["late","pending"]]' ]
	idyl workload approve early --subnet "$subnet" >/dev/null
	[ "$(phases "$subnet")" = '[["early","pending"],["late","pending"]]' ]
}

# ---- policy edits and existing workloads ------------------------------------------

@test "policy edit: warnings name placed workloads it would not admit; nothing is evicted" {
	subnet=$(new_subnet --allowed-isolation-class container,microvm)
	join_node "$subnet" n1 docker
	idyl deploy nginx --name web --subnet "$subnet" --isolation-class container >/dev/null
	idyl deploy nginx --name api --subnet "$subnet" --isolation-class container >/dev/null
	wait_workload "$subnet" web '.status.phase == "scheduled"'
	wait_workload "$subnet" api '.status.phase == "scheduled"'

	run --separate-stderr idyl subnet edit "$subnet" --allowed-isolation-class microvm
	[ "$status" -eq 0 ]
	[ "$stderr" = 'warning: workload api (isolation class container, phase scheduled) is not allowed by the new runtime policy; it keeps running
warning: workload web (isolation class container, phase scheduled) is not allowed by the new runtime policy; it keeps running' ]
	[ "${lines[1]}" = "$subnet  us-east  active  microvm         -" ]
	sleep 0.5
	run idyl workload list --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c 'map([.name, .status.phase, .status.node, .revision])')" = \
		'[["api","scheduled","n1",1],["web","scheduled","n1",1]]' ]

	# the API carries them as Warning headers
	run curl -s -D - -o /dev/null -X PATCH -H "Authorization: Bearer $IDYL_TOKEN" \
		--data-binary '{"runtimePolicy":{"allowedIsolationClasses":["microvm"],"defaultIsolationClass":"microvm"}}' \
		"$IDYL_ADDR/v1/subnets/$subnet"
	[[ "$output" == *'Warning: 299 idyld "workload web (isolation class container, phase scheduled) is not allowed by the new runtime policy; it keeps running"'* ]]

	# a policy they satisfy, or no policy, warns about nothing
	run --separate-stderr idyl subnet edit "$subnet" --allowed-isolation-class container
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run --separate-stderr idyl subnet edit "$subnet" --clear-runtime-policy
	[ -z "$stderr" ]
	[ "$(phases "$subnet")" = '[["api","scheduled"],["web","scheduled"]]' ]
}

@test "policy edit: waiting workloads no longer allowed become rejected with the admission message" {
	subnet=$(new_subnet --require-deploy-approval --allowed-isolation-class container,microvm)
	idyl deploy nginx --name waiting-c --subnet "$subnet" --isolation-class container >/dev/null
	idyl deploy nginx --name waiting-vm --subnet "$subnet" --isolation-class microvm >/dev/null
	idyl subnet edit "$subnet" --no-deploy-approval >/dev/null
	idyl deploy nginx --name pending-c --subnet "$subnet" --isolation-class container >/dev/null
	idyl deploy nginx --name pending-vm --subnet "$subnet" --isolation-class microvm >/dev/null
	wait_workload "$subnet" pending-c '.status.placement != null'

	run --separate-stderr idyl subnet edit "$subnet" --allowed-isolation-class microvm \
		--default-isolation-class microvm
	[ "$status" -eq 0 ]
	run idyl workload list --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c 'map([.name, .status.phase])')" = \
		'[["pending-c","rejected"],["pending-vm","pending"],["waiting-c","rejected"],["waiting-vm","awaiting-approval"]]' ]
	for w in pending-c waiting-c; do
		run idyl workload get "$w" --subnet "$subnet" -o json
		[ "$(echo "$output" | jq -c '[.status.message, .status.isolation]')" = \
			'["isolation.class \"container\" is not allowed by subnet runtimePolicy",{"class":"container","source":"explicit"}]' ]
		run idyl workload events "$w" --subnet "$subnet" -o json
		[ "$(echo "$output" | jq -c '.[-1] | [.type, .message]')" = \
			'["Rejected","isolation.class \"container\" is not allowed by subnet runtimePolicy"]' ]
	done
	# a rejected workload stays rejected: loosening the policy again does not revive it
	idyl subnet edit "$subnet" --clear-runtime-policy >/dev/null
	sleep 0.5
	[ "$(idyl workload get pending-c --subnet "$subnet" -o json | jq -r .status.phase)" = rejected ]
	# deploying it again is a new revision, admitted under the new policy
	run idyl deploy nginx --name pending-c --subnet "$subnet" --isolation-class container -o json
	[ "$(echo "$output" | jq -c '[.revision, .status.phase]')" = '[2,"pending"]' ]
}

@test "policy edit: a subnet-default workload is judged by its recorded class" {
	subnet=$(new_subnet --allowed-isolation-class container,microvm --default-isolation-class container)
	idyl deploy nginx --name web --subnet "$subnet" >/dev/null
	# the new default would be microvm, but web was admitted as container
	idyl subnet edit "$subnet" --allowed-isolation-class microvm --default-isolation-class microvm >/dev/null
	run idyl workload get web --subnet "$subnet" -o json
	[ "$(echo "$output" | jq -c '[.status.phase, .status.message, .status.isolation]')" = \
		'["rejected","isolation.class \"container\" is not allowed by subnet runtimePolicy",{"class":"container","source":"subnet-default"}]' ]
}
