#!/usr/bin/env bats
# Roles and credentials: every route of the route table walked with every
# role, with no credential and with wrong ones; what an author may not do;
# tokens shown once, listed without secrets, revoked at once; subnet-scoped
# tokens; provider admission; a node credential acting only for its node.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

# call TOKEN METHOD PATH [BODY]: prints the body, then the status on its own line.
call() {
	local tok=$1 method=$2 path=$3 args=()
	[ -z "$tok" ] || args+=(-H "Authorization: Bearer $tok")
	[ $# -lt 4 ] || args+=(-H 'Content-Type: application/json' --data-binary "$4")
	curl -s -X "$method" "${args[@]}" -w '\n%{http_code}' "$IDYL_ADDR$path"
}

status_of() { call "$@" | tail -n1; }

# new_token ROLE [SUBNET]: prints a new credential.
new_token() {
	if [ $# -gt 1 ]; then
		idyl token create --role "$1" --subnet "$2" -o json | jq -r .token
	else
		idyl token create --role "$1" -o json | jq -r .token
	fi
}

join_body() { # NAME [READY]
	echo "{\"name\":\"$1\",\"platform\":\"linux/amd64\",\"simulated\":true,\"runtime\":{\"profile\":\"docker\",\"ready\":${2:-true}},\"capacity\":{\"cpu\":8,\"memory\":\"16Gi\",\"gpus\":0}}"
}

# join TOKEN SUBNET NAME: joins a node; prints the answer and status.
join() { call "$1" POST "/v1/subnets/$2/nodes" "$(join_body "$3")"; }

# The (method, pattern) pairs of src/server/routes.c, one per line.
route_table() {
	tr -d '\n' <"$BATS_TEST_DIRNAME/../../src/server/routes.c" |
		grep -o '{"[A-Z]*", "/[^"]*"' | sed 's/{"\([A-Z]*\)", "\([^"]*\)"/\1 \2/'
}

# Which callers each route admits: o(perator) a(uthor) p(lain provider)
# n(ode credential, for its own node), s(ubnet-scoped operator, confined by
# the handler to its subnet), "any" (every valid credential, scoped or not),
# or "public". A route added to the
# table without a line here fails the walk.
expected_roles() {
	case "$1" in
	"GET /healthz") echo public ;;
	"GET /readyz") echo public ;;
	"GET /v1/status") echo any ;;
	"GET /metrics") echo any ;;
	"POST /v1/subnets") echo o ;;
	"GET /v1/subnets") echo o a ;;
	"GET /v1/subnets/{slug}") echo o a ;;
	"PATCH /v1/subnets/{slug}") echo o ;;
	"DELETE /v1/subnets/{slug}") echo o ;;
	"POST /v1/subnets/{slug}/workloads") echo o a ;;
	"GET /v1/subnets/{slug}/workloads") echo o a ;;
	"GET /v1/subnets/{slug}/workloads/{name}") echo o a ;;
	"DELETE /v1/subnets/{slug}/workloads/{name}") echo o a ;;
	"GET /v1/subnets/{slug}/workloads/{name}/events") echo o a ;;
	"GET /v1/subnets/{slug}/workloads/{name}/watch") echo o a ;;
	"GET /v1/subnets/{slug}/workloads/{name}/explain") echo o a ;;
	"POST /v1/subnets/{slug}/workloads/{name}/logs") echo o a ;;
	"POST /v1/subnets/{slug}/workloads/{name}/exec") echo o a ;;
	"POST /v1/subnets/{slug}/workloads/{name}/approve") echo o ;;
	"POST /v1/subnets/{slug}/workloads/{name}/deny") echo o ;;
	"POST /v1/subnets/{slug}/nodes") echo o p ;;
	"GET /v1/subnets/{slug}/nodes") echo o ;;
	"GET /v1/subnets/{slug}/nodes/{name}") echo o n ;;
	"DELETE /v1/subnets/{slug}/nodes/{name}") echo o ;;
	"POST /v1/subnets/{slug}/nodes/{name}/admit") echo o ;;
	"POST /v1/subnets/{slug}/nodes/{name}/revoke") echo o ;;
	"POST /v1/subnets/{slug}/nodes/{name}/eligibility") echo o ;;
	"POST /v1/subnets/{slug}/nodes/{name}/drain") echo o ;;
	"GET /v1/subnets/{slug}/nodes/{name}/watch") echo o n ;;
	"POST /v1/subnets/{slug}/nodes/{name}/heartbeat") echo o n ;;
	"GET /v1/subnets/{slug}/nodes/{name}/assignments") echo o n ;;
	"GET /v1/subnets/{slug}/nodes/{name}/streams") echo o n ;;
	"POST /v1/subnets/{slug}/nodes/{name}/streams/{id}") echo o n ;;
	"POST /v1/tokens") echo o s ;;
	"GET /v1/tokens") echo o s ;;
	"DELETE /v1/tokens/{id}") echo o s ;;
	"GET /v1/audit") echo o s ;;
	"POST /v1/subnets/{slug}/secrets") echo o a ;;
	"GET /v1/subnets/{slug}/secrets") echo o a ;;
	"GET /v1/subnets/{slug}/secrets/{name}") echo o a ;;
	"PUT /v1/subnets/{slug}/secrets/{name}") echo o a ;;
	"DELETE /v1/subnets/{slug}/secrets/{name}") echo o a ;;
	# values only to the node a workload is placed on: operators included, no one else
	"GET /v1/subnets/{slug}/nodes/{name}/workloads/{workload}/secrets") echo n ;;
	*) echo unknown ;;
	esac
}

# A concrete path for a pattern: the test subnet, workload "web", node "n1".
concrete() {
	local p=${1//\{slug\}/$S}
	case "$p" in
	*/nodes/\{name\}*) p=${p//\{name\}/n1} ;;
	*) p=${p//\{name\}/web} ;;
	esac
	echo "${p//\{id\}/000000000000}"
}

@test "every route answers each caller as its declared roles say" {
	S=$(new_subnet)
	S2=$(new_subnet)
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	NODE=$(join "$IDYL_TOKEN" "$S" n1 | head -n1 | jq -r .credential)
	OTHER_NODE=$(join "$IDYL_TOKEN" "$S2" n1 | head -n1 | jq -r .credential)
	declare -A tok=(
		[o]=$IDYL_TOKEN [a]=$(new_token author) [p]=$(new_token provider) [n]=$NODE
		[scoped_author]=$(new_token author "$S2") [scoped_op]=$(new_token operator "$S2")
		[other_node]=$OTHER_NODE
	)
	routes=$(route_table)
	[ "$(echo "$routes" | wc -l)" -ge 25 ]
	failures=()
	# the operator goes last: its DELETEs remove what the others use
	for who in none wrong1 wrong2 wrong3 a p n scoped_author scoped_op other_node o; do
		while read -r method pattern; do
			allowed=$(expected_roles "$method $pattern")
			[ "$allowed" != unknown ] || { failures+=("no expectation for $method $pattern"); continue; }
			path=$(concrete "$pattern")
			body=()
			[ "$method" = GET ] || [ "$method" = DELETE ] || body=('{}')
			case $who in
			none) t= ;;
			wrong1) t=idyl_0000000000000000000000000000000000000000000000000000000000000000 ;;
			wrong2) t=not-a-token ;;
			wrong3) t="${IDYL_TOKEN}x" ;;
			*) t=${tok[$who]} ;;
			esac
			got=$(status_of "$t" "$method" "$path" "${body[@]}")
			if [ "$allowed" = public ]; then
				want=200
			elif [[ $who == none || $who == wrong* ]]; then
				want=401
			elif [ "$allowed" = any ]; then
				want=allowed
			elif [[ $who == scoped_op && " $allowed " == *" s "* ]]; then
				want=allowed
			elif [[ $who == scoped_* || $who == other_node ]]; then
				want=403 # scoped to another subnet, or a role the route refuses
			elif [[ " $allowed " == *" $who "* ]]; then
				want=allowed
			else
				want=403
			fi
			if [ "$want" = allowed ]; then
				[ "$got" != 401 ] && [ "$got" != 403 ] ||
					failures+=("$who $method $path: got $got, want an answer past auth")
			elif [ "$got" != "$want" ]; then
				failures+=("$who $method $path: got $got, want $want")
			fi
		done <<<"$routes"
	done
	printf '%s\n' "${failures[@]}"
	[ ${#failures[@]} -eq 0 ]
}

@test "401 and 403 answers carry the documented JSON error" {
	S=$(new_subnet)
	run call "" GET /v1/subnets
	[ "${lines[0]}" = '{"error":{"code":"unauthorized","message":"missing credential: send Authorization: Bearer <token>"}}' ]
	[ "${lines[1]}" = 401 ]
	run call idyl_nope GET /v1/subnets
	[ "${lines[0]}" = '{"error":{"code":"unauthorized","message":"invalid credential"}}' ]
	run call "$(new_token author)" POST /v1/tokens '{"role":"operator"}'
	[ "${lines[0]}" = '{"error":{"code":"forbidden","message":"role author may not POST /v1/tokens"}}' ]
	[ "${lines[1]}" = 403 ]
}

@test "an author deploys and reads subnets, but cannot change policy, admit nodes or mint tokens" {
	S=$(new_subnet)
	join "$(new_token provider)" "$S" n1 >/dev/null
	export IDYL_TOKEN=$(new_token author)
	run idyl deploy nginx --name web --subnet "$S"
	[ "$status" -eq 0 ]
	run idyl subnet get "$S" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .slug)" = "$S" ]
	run idyl subnet edit "$S" --allowed-isolation-class microvm
	[ "$status" -eq 1 ]
	[ "$output" = "error: role author may not PATCH /v1/subnets/$S" ]
	run idyl subnet create --region eu-west
	[ "$status" -eq 1 ]
	[ "$output" = "error: role author may not POST /v1/subnets" ]
	run idyl node admit n1 --subnet "$S"
	[ "$status" -eq 1 ]
	[ "$output" = "error: role author may not POST /v1/subnets/$S/nodes/n1/admit" ]
	run idyl token create --role operator
	[ "$status" -eq 1 ]
	[ "$output" = "error: role author may not POST /v1/tokens" ]
	run idyl workload approve web --subnet "$S"
	[ "$status" -eq 1 ]
	# nothing changed: no policy, the node still pending, one subnet more than none
	IDYL_TOKEN=$(cat "$BATS_TEST_TMPDIR/data/operator.token")
	[ "$(idyl subnet get "$S" -o json | jq -c .runtimePolicy)" = null ]
	[ "$(idyl node get --subnet "$S" -o json | jq -r '.[0].admission')" = pending ]
	[ "$(subnet_count)" -eq 1 ]
	# operator, provider, author, and n1's own node credential
	[ "$(idyl token list -o json | jq -c 'map(.role + ":" + (.node // ""))')" = \
		'["operator:","provider:","provider:n1","author:"]' ]
}

@test "token create prints the credential once; list never shows a secret" {
	run idyl token create --role author -o json
	[ "$status" -eq 0 ]
	secret=$(echo "$output" | jq -r .token)
	id=$(echo "$output" | jq -r .id)
	[[ "$secret" =~ ^idyl_[0-9a-f]{64}$ ]]
	[[ "$id" =~ ^[0-9a-f]{12}$ ]]
	[ "$(echo "$output" | jq -r '.role + " " + (.subnet|tostring)')" = "author null" ]
	run idyl token list -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.[].role] | join(",")')" = operator,author ]
	[ "$(echo "$output" | jq -r --arg id "$id" '.[] | select(.id == $id) | .role')" = author ]
	[[ "$output" != *idyl_* ]]
	[ "$(echo "$output" | jq '[.[] | has("token") or has("hash")] | any')" = false ]
	run idyl token list
	[ "${lines[0]}" = "ID            ROLE      SUBNET  NODE  CREATED" ]
	[[ "$output" != *"$secret"* ]]
	# table output of create names the secret once
	run idyl token create --role provider
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '^token: idyl_[0-9a-f]\{64\}$')" -eq 1 ]
}

@test "token create rejects bad roles and unknown subnets" {
	run idyl token create --role admin
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'error: invalid --role "admin": want operator, author or provider' ]
	run idyl token create
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = 'error: --role is required: operator, author or provider' ]
	run idyl token create --role author --subnet 100000000999
	[ "$status" -eq 1 ]
	[ "$output" = 'error: subnet "100000000999" not found' ]
	run api POST /v1/tokens '{"role":"author","extra":1}'
	[ "${lines[-1]}" = 400 ]
	run api POST /v1/tokens '{"role":7}'
	[ "${lines[-1]}" = 400 ]
	[ "$(idyl token list -o json | jq length)" -eq 1 ]
}

@test "a revoked token stops working at once" {
	S=$(new_subnet)
	out=$(idyl token create --role author -o json)
	secret=$(echo "$out" | jq -r .token)
	id=$(echo "$out" | jq -r .id)
	[ "$(status_of "$secret" GET "/v1/subnets/$S/workloads")" = 200 ]
	run idyl token revoke "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "token \"$id\" revoked" ]
	[ "$(status_of "$secret" GET "/v1/subnets/$S/workloads")" = 401 ]
	run env IDYL_TOKEN="$secret" idyl workload list --subnet "$S"
	[ "$status" -eq 1 ]
	[ "$output" = "error: invalid credential" ]
	run idyl token revoke "$id"
	[ "$status" -eq 1 ]
	[ "$output" = "error: token \"$id\" not found" ]
	[[ "$(idyl token list -o json)" != *"$id"* ]]
}

@test "the last operator credential cannot be revoked; another one can" {
	first=$(idyl token list -o json | jq -r '.[0].id')
	run idyl token revoke "$first"
	[ "$status" -eq 1 ]
	[ "$output" = "error: token \"$first\" is the last operator credential: create another operator token first" ]
	[ "$(status_of "$IDYL_TOKEN" GET /v1/tokens)" = 200 ]
	second=$(new_token operator)
	run idyl token revoke "$first"
	[ "$status" -eq 0 ]
	[ "$(status_of "$IDYL_TOKEN" GET /v1/tokens)" = 401 ]
	[ "$(status_of "$second" GET /v1/tokens)" = 200 ]
}

@test "a subnet-scoped token acts only in its subnet" {
	S=$(new_subnet)
	S2=$(new_subnet)
	author=$(new_token author "$S")
	run env IDYL_TOKEN="$author" idyl deploy nginx --name web --subnet "$S"
	[ "$status" -eq 0 ]
	run env IDYL_TOKEN="$author" idyl deploy nginx --name web --subnet "$S2"
	[ "$status" -eq 1 ]
	[ "$output" = "error: this credential is scoped to subnet \"$S\" and may not POST /v1/subnets/$S2/workloads" ]
	[ "$(workload_count "$S2")" -eq 0 ]
	run env IDYL_TOKEN="$author" idyl subnet list
	[ "$status" -eq 1 ]
	# a subnet operator manages its subnet and mints tokens only for it
	op=$(new_token operator "$S")
	run env IDYL_TOKEN="$op" idyl subnet edit "$S" --allowed-isolation-class container
	[ "$status" -eq 0 ]
	run env IDYL_TOKEN="$op" idyl subnet edit "$S2" --allowed-isolation-class container
	[ "$status" -eq 1 ]
	run env IDYL_TOKEN="$op" idyl token create --role provider --subnet "$S2"
	[ "$status" -eq 1 ]
	[ "$output" = "error: this credential is scoped to subnet \"$S\" and may only create tokens for it" ]
	run env IDYL_TOKEN="$op" idyl token create --role provider -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .subnet)" = "$S" ]
	run env IDYL_TOKEN="$op" idyl token list -o json
	[ "$(echo "$output" | jq -r '[.[].subnet] | unique | join(",")')" = "$S" ]
	# tokens of other subnets are not its to revoke
	unscoped=$(idyl token list -o json | jq -r '.[] | select(.subnet == null) | .id' | head -n1)
	run env IDYL_TOKEN="$op" idyl token revoke "$unscoped"
	[ "$status" -eq 1 ]
	[ "$output" = "error: token \"$unscoped\" not found" ]
	[ "$(idyl token list -o json | jq --arg id "$unscoped" '[.[] | select(.id == $id)] | length')" -eq 1 ]
}

# ---- provider admission -------------------------------------------------------

@test "admission: operator and subnet join tokens admit at once, a plain provider waits" {
	S=$(new_subnet)
	S2=$(new_subnet)
	run join "$IDYL_TOKEN" "$S" by-operator
	[ "${lines[-1]}" = 201 ]
	[ "$(echo "${lines[0]}" | jq -r .admission)" = admitted ]
	run join "$(new_token provider "$S")" "$S" by-join-token
	[ "${lines[-1]}" = 201 ]
	[ "$(echo "${lines[0]}" | jq -r .admission)" = admitted ]
	run join "$(new_token provider)" "$S" by-provider
	[ "${lines[-1]}" = 201 ]
	[ "$(echo "${lines[0]}" | jq -r .admission)" = pending ]
	# a join token for another subnet admits nothing here
	run join "$(new_token provider "$S2")" "$S" elsewhere
	[ "${lines[-1]}" = 403 ]
	run idyl node get --subnet "$S" -o json
	[ "$(echo "$output" | jq -c 'map([.name, .admission])')" = \
		'[["by-join-token","admitted"],["by-operator","admitted"],["by-provider","pending"]]' ]
	run idyl node admit by-provider --subnet "$S" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .admission)" = admitted ]
}

@test "admission: a pending node gets no work until admitted" {
	S=$(new_subnet)
	join "$(new_token provider)" "$S" n1 >/dev/null
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	wait_workload "$S" web '.status.placement.filtered.node_not_admitted == 1'
	[ "$(idyl workload get web --subnet "$S" -o json | jq -r .status.phase)" = pending ]
	idyl node admit n1 --subnet "$S" >/dev/null
	wait_workload "$S" web '.status.node == "n1"'
}

@test "admission: node revoke places its workloads again elsewhere" {
	S=$(new_subnet)
	join "$IDYL_TOKEN" "$S" n1 >/dev/null
	idyl deploy nginx --name web --subnet "$S" >/dev/null
	wait_workload "$S" web '.status.node == "n1"'
	join "$IDYL_TOKEN" "$S" n2 >/dev/null
	run idyl node revoke n1 --subnet "$S" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .admission)" = revoked ]
	wait_workload "$S" web '.status.node == "n2"'
	run idyl workload events web --subnet "$S" -o json
	[[ "$output" == *"node n1 was revoked"* ]]
	[ "$(idyl node get --subnet "$S" -o json | jq -r '.[] | select(.name == "n1") | .admission')" = revoked ]
}

@test "a node credential acts only for its node and its subnet" {
	S=$(new_subnet)
	S2=$(new_subnet)
	n1=$(join "$IDYL_TOKEN" "$S" n1 | head -n1 | jq -r .credential)
	join "$IDYL_TOKEN" "$S" n2 >/dev/null
	join "$IDYL_TOKEN" "$S2" n1 >/dev/null
	hb='{"runtime":{"ready":false,"reason":"spoofed"}}'
	[ "$(status_of "$n1" POST "/v1/subnets/$S/nodes/n1/heartbeat" '{}')" = 200 ]
	[ "$(status_of "$n1" GET "/v1/subnets/$S/nodes/n1")" = 200 ]
	run call "$n1" POST "/v1/subnets/$S/nodes/n2/heartbeat" "$hb"
	[ "${lines[0]}" = '{"error":{"code":"forbidden","message":"this credential cannot act for node \"n2\""}}' ]
	[ "${lines[1]}" = 403 ]
	[ "$(status_of "$n1" GET "/v1/subnets/$S/nodes/n2")" = 403 ]
	[ "$(status_of "$n1" GET "/v1/subnets/$S/nodes/n2/assignments")" = 403 ]
	[ "$(status_of "$n1" POST "/v1/subnets/$S2/nodes/n1/heartbeat" "$hb")" = 403 ]
	[ "$(status_of "$n1" GET "/v1/subnets/$S2/nodes/n1")" = 403 ]
	[ "$(status_of "$n1" GET "/v1/subnets/$S2/workloads")" = 403 ]
	[ "$(status_of "$n1" GET "/v1/subnets/$S/workloads")" = 403 ]
	[ "$(status_of "$n1" GET "/v1/subnets/$S")" = 403 ]
	[ "$(status_of "$n1" POST "/v1/subnets/$S/nodes" "$(join_body n3)")" = 403 ]
	# nothing the refused heartbeats said reached the other nodes
	[ "$(idyl node get --subnet "$S" -o json | jq -r '.[] | select(.name == "n2") | .runtime.reason')" = "" ]
	[ "$(idyl node get --subnet "$S2" -o json | jq -r '.[0].runtime.reason')" = "" ]
	[ "$(idyl node get --subnet "$S" -o json | jq length)" -eq 2 ]
}
