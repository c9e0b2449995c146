#!/usr/bin/env bats
# List pagination (SPEC 9, Kubernetes' model): without limit a list answers
# the whole array; ?limit=N answers {"items", "continue"} pages, the last
# without continue; bad limits and tokens are 400 with a JSON error. The CLI
# follows pages: -o json still prints one array, tables are unchanged.
load helper

setup() {
	start_idyld
	S=$(new_subnet)
	SIM_PIDS=
	SIM_N=0
}

teardown() {
	stop_sims
	stop_idyld
}

deploy_n() {
	for name in "$@"; do
		api POST "/v1/subnets/$S/workloads" \
			"{\"name\":\"$name\",\"spec\":{\"image\":\"nginx:1.27-alpine\"}}" | tail -n1 |
			grep -qx 201
	done
}

# Follows ?limit=$2 pages of path $1 with curl; prints every item's .name
# (or .slug), one a line, and checks each page's shape on the way.
follow() {
	local path=$1 limit=$2 token= body page=0
	while :; do
		body=$(api GET "$path?limit=$limit${token:+&continue=$token}")
		[ "$(echo "$body" | tail -n1)" = 200 ]
		body=$(echo "$body" | sed '$d')
		echo "$body" | jq -e '.items | type == "array"' >/dev/null
		[ "$(echo "$body" | jq '.items | length')" -le "$limit" ]
		echo "$body" | jq -r '.items[] | .name // .slug'
		token=$(echo "$body" | jq -r '.continue // empty')
		page=$((page + 1))
		[ -n "$token" ] || break
		[ "$(echo "$body" | jq '.items | length')" -eq "$limit" ]
		[ "$page" -lt 100 ]
	done
}

@test "a list pages with limit and continue; without limit it is the whole array" {
	deploy_n web-2 web web-10 web-1 api
	whole=$(api GET "/v1/subnets/$S/workloads" | sed '$d')
	[ "$(echo "$whole" | jq -r 'type')" = array ]
	[ "$(echo "$whole" | jq -r '[.[].name] | join(",")')" = "api,web,web-1,web-10,web-2" ]

	run api GET "/v1/subnets/$S/workloads?limit=2"
	[ "${lines[-1]}" = 200 ]
	page=$(echo "$output" | sed '$d')
	[ "$(echo "$page" | jq -r '[.items[].name] | join(",")')" = "api,web" ]
	[ "$(echo "$page" | jq -r .continue)" = d2Vi ] # base64url("web")
	run api GET "/v1/subnets/$S/workloads?limit=2&continue=d2Vi"
	[ "$(echo "$output" | sed '$d' | jq -r '[.items[].name] | join(",")')" = "web-1,web-10" ]
	# the last page has no continue, also when it is exactly full
	run api GET "/v1/subnets/$S/workloads?limit=5"
	[ "$(echo "$output" | sed '$d' | jq -c 'keys')" = '["items"]' ]
	[ "$(echo "$output" | sed '$d' | jq '.items | length')" -eq 5 ]

	[ "$(follow "/v1/subnets/$S/workloads" 1 | paste -sd,)" = "api,web,web-1,web-10,web-2" ]
	[ "$(follow "/v1/subnets/$S/workloads" 1000 | paste -sd,)" = "api,web,web-1,web-10,web-2" ]
	# paged items are the whole list's objects
	[ "$(for t in "" d2Vi d2ViLTEw; do
		api GET "/v1/subnets/$S/workloads?limit=2${t:+&continue=$t}" | sed '$d' | jq -c '.items[]'
	done | jq -sc .)" = "$(echo "$whole" | jq -c .)" ]

	new_subnet >/dev/null
	[ "$(follow /v1/subnets 1 | paste -sd,)" = "$(idyl subnet list -o json | jq -r '[.[].slug] | join(",")')" ]
	run api GET "/v1/tokens?limit=1"
	[ "$(echo "$output" | sed '$d' | jq '.items | length')" -eq 1 ]
	[ "$(echo "$output" | sed '$d' | jq -r '.continue // "none"')" = none ] # one operator token
	run api GET "/v1/subnets/$S/secrets?limit=3"
	[ "$(echo "$output" | sed '$d' | jq -c .)" = '{"items":[]}' ]
}

@test "a bad limit or continue token is 400 with a JSON error, and nothing changes" {
	deploy_n web
	before=$(api GET "/v1/subnets/$S/workloads" | sed '$d')
	for limit in 0 -1 1001 abc 1e3 01 ''; do
		run api GET "/v1/subnets/$S/workloads?limit=$limit"
		[ "${lines[-1]}" = 400 ]
		[ "$(echo "$output" | sed '$d' | jq -c .)" = \
			"{\"error\":{\"code\":\"invalid_argument\",\"message\":\"invalid query parameter \\\"limit\\\": \\\"$limit\\\" is not a decimal number from 1 to 1000\"}}" ]
	done
	for token in '%2B%2F' 'd2Vi%3D' V2Vi 'd2ViLTB' "$(printf 'x%.0s' $(seq 200))"; do
		run api GET "/v1/subnets/$S/workloads?limit=1&continue=$token"
		[ "${lines[-1]}" = 400 ]
		[ "$(echo "$output" | sed '$d' | jq -r .error.message)" = \
			'invalid query parameter "continue": not a token a page of this list gave' ]
	done
	run api GET "/v1/subnets/$S/nodes?continue=d2Vi"
	[ "${lines[-1]}" = 400 ]
	[ "$(echo "$output" | sed '$d' | jq -r .error.message)" = 'query parameter "continue" needs "limit"' ]
	run api GET "/v1/subnets/$S/workloads?limit=1&watch="
	[ "${lines[-1]}" = 400 ]
	[ "$(echo "$output" | sed '$d' | jq -r .error.message)" = 'query parameter "limit" cannot be combined with "watch"' ]
	[ "$(api GET "/v1/subnets/$S/workloads" | sed '$d')" = "$before" ]
}

@test "idyl lists follow pages: -o json prints one array, the table is unchanged" {
	deploy_n web-2 web web-10 web-1 api
	idyl secret create db --subnet "$S" --from-literal a=1 >/dev/null
	idyl secret create app --subnet "$S" --from-literal a=1 >/dev/null
	idyl secret create cache --subnet "$S" --from-literal a=1 >/dev/null
	new_subnet >/dev/null
	new_subnet >/dev/null
	idyl token create --role author >/dev/null
	idyl token create --role provider >/dev/null
	for cmd in "workload list --subnet $S" "secret list --subnet $S" "subnet list" "token list"; do
		# shellcheck disable=SC2086
		one=$(IDYL_PAGE_SIZE=1000 idyl $cmd -o json)
		# shellcheck disable=SC2086
		[ "$(IDYL_PAGE_SIZE=2 idyl $cmd -o json)" = "$one" ]
		[ "$(echo "$one" | jq -r 'type')" = array ]
		[ "$(echo "$one" | jq length)" -ge 3 ]
		# shellcheck disable=SC2086
		[ "$(IDYL_PAGE_SIZE=1 idyl $cmd)" = "$(IDYL_PAGE_SIZE=1000 idyl $cmd)" ]
	done
	[ "$(IDYL_PAGE_SIZE=2 idyl workload list --subnet "$S" -o json | jq -r '[.[].name] | join(",")')" = \
		"api,web,web-1,web-10,web-2" ]
	[ "$(IDYL_PAGE_SIZE=2 idyl secret list --subnet "$S" -o json | jq -r '[.[].name] | join(",")')" = \
		"app,cache,db" ]

	start_sim --subnet "$S" --count 5 --runtime-profile docker
	[ "$(IDYL_PAGE_SIZE=2 idyl node get --subnet "$S" -o json | jq -r '[.[].name] | join(",")')" = \
		"sim-docker-0,sim-docker-1,sim-docker-2,sim-docker-3,sim-docker-4" ]
	[ "$(IDYL_PAGE_SIZE=2 idyl node get --subnet "$S" -o json | jq -c 'map(del(.lastHeartbeat))')" = \
		"$(IDYL_PAGE_SIZE=1000 idyl node get --subnet "$S" -o json | jq -c 'map(del(.lastHeartbeat))')" ]

	run env IDYL_PAGE_SIZE=0 idyl subnet list
	[ "$status" -eq 1 ]
	[ "$output" = 'error: invalid IDYL_PAGE_SIZE "0": want 1 to 1000' ]
}

@test "idyl subnet list shows more subnets than one page of the CLI's default size" {
	# eight writers at once, so their commits group
	codes=$(seq 505 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST \
		-H "Authorization: Bearer $IDYL_TOKEN" --data-binary '{"region":"us-west"}' \
		"$IDYL_ADDR/v1/subnets" | sort | uniq -c | sed 's/^ *//')
	[ "$codes" = "505 201" ]
	run idyl subnet list -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq length)" -eq 506 ]
	[ "$(echo "$output" | jq -r '[.[].slug] | unique | length')" -eq 506 ]
	[ "$(idyl subnet list | wc -l)" -eq 507 ] # the header and a row each
}
