#!/usr/bin/env bats
# idyl subnet create|edit|get|list|delete as an operator sees them: every
# example of product-docs/subnet-runtime-policy.txt run verbatim, the
# documented object shape, every validation rule with its exact message and
# nothing written, usage errors, --help, and where the CLI finds idyld.
load helper

setup() { start_idyld; }
teardown() { stop_idyld; }

# subnet_yaml SLUG [LINE...]: what `idyl subnet get SLUG -o yaml` prints for
# a subnet in us-east, active, with the lines given after its status (its
# runtime policy, its deploy approval).
subnet_yaml() {
	printf 'slug: "%s"\nregion: us-east\nstatus: active' "$1"
	shift
	[ $# -eq 0 ] || printf '\n%s' "$@"
}

# creates_subnet_yaml FLAGS... -- LINE...: idyl subnet create FLAGS succeeds,
# and idyl subnet get shows the new subnet in YAML with those lines after
# its status.
creates_subnet_yaml() {
	local flags=()
	while [ "$1" != -- ]; do
		flags+=("$1")
		shift
	done
	shift
	run idyl subnet create "${flags[@]}"
	[ "$status" -eq 0 ]
	run idyl subnet get 100000000001 -o yaml
	[ "$output" = "$(subnet_yaml 100000000001 "$@")" ]
}

# ---- the documented examples, verbatim ------------------------------------

@test "doc: create a subnet with no runtime policy" {
	run idyl subnet create --region us-east
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "SLUG          REGION   STATUS  RUNTIME POLICY  DEPLOY APPROVAL" ]
	[ "${lines[1]}" = "100000000001  us-east  active  -               -" ]
	run idyl subnet get 100000000001 -o yaml
	[ "$status" -eq 0 ]
	[ "$output" = "$(subnet_yaml 100000000001)" ]
}

@test "doc: create a microvm subnet with defaulting" {
	run idyl subnet create --region us-east --allowed-isolation-class microvm --default-isolation-class microvm
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "100000000001  us-east  active  microvm (default microvm)  -" ]
	run idyl subnet get 100000000001 -o yaml
	[ "$output" = "$(subnet_yaml 100000000001 'runtimePolicy:' '  allowedIsolationClasses:' '    - microvm' '  defaultIsolationClass: microvm')" ]
}

@test "doc: create a strict microvm subnet" {
	creates_subnet_yaml --region us-east --allowed-isolation-class microvm -- \
		'runtimePolicy:' '  allowedIsolationClasses:' '    - microvm'
}

@test "doc: create a microvm subnet that accepts only Kata + Firecracker nodes" {
	creates_subnet_yaml --region us-east --allowed-isolation-class microvm --allowed-vmm-backend firecracker -- \
		'runtimePolicy:' '  allowedIsolationClasses:' '    - microvm' '  allowedVMMBackends:' '    - firecracker'
}

@test "doc: create a microvm subnet that accepts Kata + QEMU or Kata + Firecracker" {
	creates_subnet_yaml --region us-east --allowed-isolation-class microvm --allowed-vmm-backend qemu --allowed-vmm-backend firecracker -- \
		'runtimePolicy:' '  allowedIsolationClasses:' '    - microvm' '  allowedVMMBackends:' '    - qemu' '    - firecracker'
}

@test "doc: create a subnet that allows both container and microvm" {
	creates_subnet_yaml --region us-east --allowed-isolation-class container --allowed-isolation-class microvm -- \
		'runtimePolicy:' '  allowedIsolationClasses:' '    - container' '    - microvm'
}

@test "doc: allowed classes as a comma-separated list give the same policy" {
	run idyl subnet create --region us-east --allowed-isolation-class container,microvm
	[ "$status" -eq 0 ]
	run idyl subnet get 100000000001 -o json
	[ "$(echo "$output" | jq -c .runtimePolicy)" = '{"allowedIsolationClasses":["container","microvm"]}' ]
}

@test "comma lists and repeated flags mix, for classes and backends" {
	run idyl subnet create --region us-east --allowed-isolation-class container --allowed-isolation-class microvm --allowed-vmm-backend qemu,firecracker -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .runtimePolicy)" = '{"allowedIsolationClasses":["container","microvm"],"allowedVMMBackends":["qemu","firecracker"]}' ]
}

@test "doc: set or replace runtime policy on an existing subnet" {
	slug=$(new_subnet --allowed-isolation-class container,microvm --allowed-vmm-backend qemu)
	run idyl subnet edit "$slug" --allowed-isolation-class microvm --default-isolation-class microvm
	[ "$status" -eq 0 ]
	# replaced as a whole: the qemu restriction is gone, not merged
	run idyl subnet get "$slug" -o yaml
	[ "$output" = "$(subnet_yaml "$slug" 'runtimePolicy:' '  allowedIsolationClasses:' '    - microvm' '  defaultIsolationClass: microvm')" ]
}

@test "doc: restrict a microvm subnet to a specific Kata backend (the doc's yaml)" {
	slug=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	run idyl subnet edit "$slug" --allowed-isolation-class microvm --allowed-vmm-backend firecracker
	[ "$status" -eq 0 ]
	run idyl subnet edit "$slug" --allowed-isolation-class microvm --default-isolation-class microvm --allowed-vmm-backend firecracker
	[ "$status" -eq 0 ]
	# exactly the "Verify the policy" output of the product doc
	run idyl subnet get "$slug" -o yaml
	[ "$output" = 'slug: "100000000001"
region: us-east
status: active
runtimePolicy:
  allowedIsolationClasses:
    - microvm
  defaultIsolationClass: microvm
  allowedVMMBackends:
    - firecracker' ]
}

@test "doc: clear runtime policy" {
	slug=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	run idyl subnet edit "$slug" --clear-runtime-policy
	[ "$status" -eq 0 ]
	run idyl subnet get "$slug" -o json
	[ "$(echo "$output" | jq -c .)" = "{\"slug\":\"$slug\",\"region\":\"us-east\",\"status\":\"active\"}" ]
}

# ---- structured output and the list table ---------------------------------

@test "subnet get -o json is the SPEC 2 object" {
	slug=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm \
		--allowed-vmm-backend firecracker)
	run idyl subnet get "$slug" -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .)" = '{"slug":"100000000001","region":"us-east","status":"active","runtimePolicy":{"allowedIsolationClasses":["microvm"],"defaultIsolationClass":"microvm","allowedVMMBackends":["firecracker"]}}' ]
	[ "$(echo "$output" | jq -r '.slug | type')" = string ]
}

@test "create and edit answer with the subnet object in -o json and -o yaml" {
	run idyl subnet create --region eu-west-1 --allowed-isolation-class container -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .)" = '{"slug":"100000000001","region":"eu-west-1","status":"active","runtimePolicy":{"allowedIsolationClasses":["container"]}}' ]
	run idyl subnet edit 100000000001 --clear-runtime-policy -o yaml
	[ "$status" -eq 0 ]
	[ "$output" = 'slug: "100000000001"
region: eu-west-1
status: active' ]
}

@test "subnet list: a table with a one-line policy summary per subnet" {
	new_subnet >/dev/null
	new_subnet --allowed-isolation-class microvm --default-isolation-class microvm \
		--allowed-vmm-backend firecracker >/dev/null
	new_subnet --allowed-isolation-class container,microvm >/dev/null
	new_subnet --allowed-isolation-class microvm --allowed-vmm-backend qemu,firecracker \
		--require-deploy-approval >/dev/null
	run idyl subnet list
	[ "$status" -eq 0 ]
	[ "$output" = "SLUG          REGION   STATUS  RUNTIME POLICY                              DEPLOY APPROVAL
100000000001  us-east  active  -                                           -
100000000002  us-east  active  microvm (default microvm; vmm firecracker)  -
100000000003  us-east  active  container,microvm                           -
100000000004  us-east  active  microvm (vmm qemu,firecracker)              required" ]
}

@test "subnet list -o wide adds the network and device policies; get -o wide too" {
	new_subnet >/dev/null
	new_subnet --allowed-isolation-class container --require-deploy-approval --egress restricted \
		--allow-egress-cidr 10.0.0.0/8 --allow-egress-cidr 192.168.1.0/24 \
		--allow-device /dev/fuse --allow-device /dev/net/tun >/dev/null
	new_subnet --egress none >/dev/null
	new_subnet --egress all >/dev/null
	run idyl subnet list -o wide
	[ "$status" -eq 0 ]
	[ "$output" = "SLUG          REGION   STATUS  RUNTIME POLICY  DEPLOY APPROVAL  EGRESS      EGRESS CIDRS               DEVICES
100000000001  us-east  active  -               -                -           -                          -
100000000002  us-east  active  container       required         restricted  10.0.0.0/8,192.168.1.0/24  /dev/fuse,/dev/net/tun
100000000003  us-east  active  -               -                none        -                          -
100000000004  us-east  active  -               -                all         -                          -" ]
	run idyl subnet get 100000000002 -o wide
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "100000000002  us-east  active  container       required         restricted  10.0.0.0/8,192.168.1.0/24  /dev/fuse,/dev/net/tun" ]
	# the plain table keeps its five columns
	run idyl subnet list
	[ "${lines[0]}" = "SLUG          REGION   STATUS  RUNTIME POLICY  DEPLOY APPROVAL" ]
	[ "${lines[2]}" = "100000000002  us-east  active  container       required" ]
	run idyl subnet edit 100000000003 --clear-network-policy -o wide
	[ "${lines[1]}" = "100000000003  us-east  active  -               -                -       -             -" ]
}

@test "subnet list -o json and -o yaml include the full runtimePolicy" {
	new_subnet >/dev/null
	new_subnet --allowed-isolation-class microvm --allowed-vmm-backend firecracker >/dev/null
	run idyl subnet list -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .)" = '[{"slug":"100000000001","region":"us-east","status":"active"},{"slug":"100000000002","region":"us-east","status":"active","runtimePolicy":{"allowedIsolationClasses":["microvm"],"allowedVMMBackends":["firecracker"]}}]' ]
	run idyl subnet list -o yaml
	[ "$output" = '- slug: "100000000001"
  region: us-east
  status: active
- slug: "100000000002"
  region: us-east
  status: active
  runtimePolicy:
    allowedIsolationClasses:
      - microvm
    allowedVMMBackends:
      - firecracker' ]
}

@test "subnet list with no subnets: header only, [] in json" {
	run idyl subnet list
	[ "$status" -eq 0 ]
	[ "$output" = "SLUG  REGION  STATUS  RUNTIME POLICY  DEPLOY APPROVAL" ]
	run idyl subnet list -o json
	[ "$(echo "$output" | jq -c .)" = '[]' ]
}

# ---- validation: exact message, non-zero exit, nothing written -------------

# Runs `idyl subnet create` with $@ and checks it failed with $EXPECT on
# stderr, nothing on stdout, and no subnet created.
create_rejected() {
	run --separate-stderr idyl subnet create --region us-east "$@"
	echo "status=$status stdout=$output stderr=$stderr"
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: $EXPECT" ]
	[ -z "$output" ]
	[ "$(subnet_count)" = 0 ]
}

@test "create: default without allowed is rejected, nothing created" {
	EXPECT='--default-isolation-class requires --allowed-isolation-class (valid values: container, microvm)'
	create_rejected --default-isolation-class microvm
}

@test "create: default not in allowed is rejected, nothing created" {
	EXPECT='--default-isolation-class "microvm" must be one of --allowed-isolation-class (container)'
	create_rejected --allowed-isolation-class container --default-isolation-class microvm
}

@test "create: vmm backend without microvm allowed is rejected, nothing created" {
	EXPECT='--allowed-vmm-backend applies only when --allowed-isolation-class includes microvm (allowed: container)'
	create_rejected --allowed-isolation-class container --allowed-vmm-backend firecracker
	EXPECT='--allowed-vmm-backend requires --allowed-isolation-class microvm'
	create_rejected --allowed-vmm-backend qemu
}

@test "create: unknown class, default class or backend is rejected naming the valid values" {
	EXPECT='invalid --allowed-isolation-class "vm": valid values are container, microvm'
	create_rejected --allowed-isolation-class vm
	EXPECT='invalid --allowed-isolation-class "kata": valid values are container, microvm'
	create_rejected --allowed-isolation-class microvm,kata
	EXPECT='invalid --default-isolation-class "gvisor": valid values are container, microvm'
	create_rejected --allowed-isolation-class container --default-isolation-class gvisor
	EXPECT='invalid --allowed-vmm-backend "cloud-hypervisor": valid values are qemu, firecracker'
	create_rejected --allowed-isolation-class microvm --allowed-vmm-backend cloud-hypervisor
	EXPECT='invalid --allowed-isolation-class "": valid values are container, microvm'
	create_rejected --allowed-isolation-class microvm,
}

@test "create: a duplicate class is rejected" {
	EXPECT='duplicate --allowed-isolation-class "microvm": each value may be given once'
	create_rejected --allowed-isolation-class microvm --allowed-isolation-class microvm
}

@test "create: a bad region is rejected" {
	EXPECT='invalid --region "US-East": must match [a-z0-9-]+, at most 63 characters'
	create_rejected --region US-East
}

# Runs `idyl subnet edit $SLUG` with $@, checks it failed with $EXPECT and
# exit $CODE (default 1), and that the subnet is exactly as before.
edit_rejected() {
	local before
	before=$(idyl subnet get "$SLUG" -o yaml)
	run --separate-stderr idyl subnet edit "$SLUG" "$@"
	echo "status=$status stdout=$output stderr=$stderr"
	[ "$status" -eq "${CODE:-1}" ]
	[ "${stderr%%$'\n'*}" = "error: $EXPECT" ]
	[ -z "$output" ]
	[ "$(idyl subnet get "$SLUG" -o yaml)" = "$before" ]
}

@test "edit: every invalid policy is rejected and the old policy stays" {
	SLUG=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm \
		--allowed-vmm-backend firecracker)
	EXPECT='--default-isolation-class requires --allowed-isolation-class (valid values: container, microvm)'
	edit_rejected --default-isolation-class container
	EXPECT='--default-isolation-class "container" must be one of --allowed-isolation-class (microvm)'
	edit_rejected --allowed-isolation-class microvm --default-isolation-class container
	EXPECT='--allowed-vmm-backend applies only when --allowed-isolation-class includes microvm (allowed: container)'
	edit_rejected --allowed-isolation-class container --allowed-vmm-backend qemu
	EXPECT='--allowed-vmm-backend requires --allowed-isolation-class microvm'
	edit_rejected --allowed-vmm-backend qemu
	EXPECT='invalid --allowed-isolation-class "vm": valid values are container, microvm'
	edit_rejected --allowed-isolation-class vm
	EXPECT='invalid --allowed-vmm-backend "kvm": valid values are qemu, firecracker'
	edit_rejected --allowed-isolation-class microvm --allowed-vmm-backend kvm
}

@test "edit: --clear-runtime-policy with policy flags is a usage error, nothing changes" {
	SLUG=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	CODE=2
	EXPECT='--clear-runtime-policy cannot be combined with --allowed-isolation-class, --default-isolation-class or --allowed-vmm-backend'
	edit_rejected --clear-runtime-policy --allowed-isolation-class container
	edit_rejected --default-isolation-class microvm --clear-runtime-policy
	edit_rejected --clear-runtime-policy --allowed-vmm-backend qemu
	[ "${stderr#*$'\n'}" = 'Run "idyl subnet edit --help" for usage.' ]
}

@test "edit: --require-deploy-approval with --no-deploy-approval is a usage error" {
	SLUG=$(new_subnet)
	CODE=2
	EXPECT='--require-deploy-approval cannot be combined with --no-deploy-approval'
	edit_rejected --require-deploy-approval --no-deploy-approval
}

@test "unknown subnet: get, edit and delete fail with its name, nothing created" {
	for cmd in get "edit --allowed-isolation-class microvm" "edit --clear-runtime-policy" delete; do
		run --separate-stderr idyl subnet $cmd 100000000042
		[ "$status" -eq 1 ]
		[ "$stderr" = 'error: subnet "100000000042" not found' ]
	done
	run --separate-stderr idyl subnet get not-a-slug
	[ "$status" -eq 1 ]
	[ "$stderr" = 'error: subnet "not-a-slug" not found' ]
	[ "$(subnet_count)" = 0 ]
}

# ---- edit without policy flags, deploy approval ---------------------------

@test "edit without policy flags leaves the policy as it is" {
	slug=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm \
		--allowed-vmm-backend firecracker)
	before=$(idyl subnet get "$slug" -o yaml)
	run idyl subnet edit "$slug" -o yaml
	[ "$status" -eq 0 ]
	[ "$output" = "$before" ]
	[ "$(idyl subnet get "$slug" -o yaml)" = "$before" ]
}

@test "--require-deploy-approval and --no-deploy-approval leave the policy as it is" {
	slug=$(new_subnet --allowed-isolation-class microvm --default-isolation-class microvm)
	run idyl subnet edit "$slug" --require-deploy-approval -o yaml
	[ "$status" -eq 0 ]
	[ "$output" = "$(subnet_yaml 100000000001 'runtimePolicy:' '  allowedIsolationClasses:' '    - microvm' '  defaultIsolationClass: microvm' 'deployApproval: required')" ]
	run idyl subnet list
	[ "${lines[1]}" = "100000000001  us-east  active  microvm (default microvm)  required" ]
	run idyl subnet edit "$slug" --no-deploy-approval -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .)" = '{"slug":"100000000001","region":"us-east","status":"active","runtimePolicy":{"allowedIsolationClasses":["microvm"],"defaultIsolationClass":"microvm"}}' ]
	# a policy edit keeps deploy approval as it is
	idyl subnet edit "$slug" --require-deploy-approval >/dev/null
	idyl subnet edit "$slug" --allowed-isolation-class container >/dev/null
	[ "$(idyl subnet get "$slug" -o json | jq -r .deployApproval)" = required ]
	idyl subnet edit "$slug" --clear-runtime-policy >/dev/null
	[ "$(idyl subnet get "$slug" -o json | jq -c .)" = '{"slug":"100000000001","region":"us-east","status":"active","deployApproval":"required"}' ]
}

@test "create --require-deploy-approval" {
	run idyl subnet create --region us-east --require-deploy-approval -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .deployApproval)" = required ]
}

# ---- delete -----------------------------------------------------------------

@test "subnet delete removes it; a subnet with workloads is kept" {
	a=$(new_subnet)
	b=$(new_subnet)
	run idyl subnet delete "$a"
	[ "$status" -eq 0 ]
	[ "$output" = "subnet \"$a\" deleted" ]
	run idyl subnet get "$a"
	[ "$status" -eq 1 ]
	[ "$(idyl subnet list -o json | jq -r '.[].slug')" = "$b" ]
	idyl deploy nginx:1.27-alpine --name web --subnet "$b" >/dev/null
	run --separate-stderr idyl subnet delete "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: subnet \"$b\" still has 1 workload: delete them first" ]
	[ "$(subnet_count)" = 1 ]
	# slugs are never reused
	[ "$(new_subnet)" = 100000000003 ]
}

# ---- usage errors and --help --------------------------------------------------

@test "usage errors exit 2 with a pointer to --help" {
	run --separate-stderr idyl subnet create
	[ "$status" -eq 2 ]
	[ "$stderr" = 'error: --region is required
Run "idyl subnet create --help" for usage.' ]
	run --separate-stderr idyl subnet create --region us-east --bogus
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = 'error: unknown option "--bogus"' ]
	run --separate-stderr idyl subnet create --region
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = 'error: option "--region" needs a value' ]
	run --separate-stderr idyl subnet get
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = 'error: missing argument SUBNET' ]
	run --separate-stderr idyl subnet get 100000000001 100000000002
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = 'error: unexpected argument "100000000002"' ]
	run --separate-stderr idyl subnet list -o xml
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = 'error: invalid --output "xml": valid values are table, wide, name, yaml, json' ]
	run --separate-stderr idyl subnet frobnicate
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = 'error: unknown command "idyl subnet frobnicate"' ]
	run --separate-stderr idyl frobnicate
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = 'error: unknown command "frobnicate"' ]
	run idyl
	[ "$status" -eq 2 ]
	run idyl subnet
	[ "$status" -eq 2 ]
	[ "$(subnet_count)" = 0 ]
}

@test "--help on every command exits 0 and prints its usage" {
	run idyl --help
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "usage: idyl <noun> <verb> [options]" ]
	commands=$(echo "$output" | awk '/^commands:/{on=1; next} on && !NF {exit} on {print $1 (($2 ~ /^[a-z]+$/) ? " " $2 : "")}')
	[ "$(echo "$commands" | wc -l)" -ge 10 ]
	echo "$commands" | grep -qx "subnet create"
	echo "$commands" | grep -qx "deploy"
	while read -r cmd; do
		for h in --help -h; do
			# shellcheck disable=SC2086
			run idyl $cmd $h
			echo "$cmd $h: $status"
			[ "$status" -eq 0 ]
			[[ "${lines[0]}" == "usage: idyl $cmd "* ]]
		done
	done <<<"$commands"
	for noun in subnet workload node; do
		run idyl "$noun" --help
		[ "$status" -eq 0 ]
	done
	run idyl subnet create --help
	[[ "$output" == *"--allowed-isolation-class CLASS"*"(repeatable, or comma-separated)"* ]]
	[[ "$output" == *"--output, -o FORMAT"*"table (default), wide, name, yaml or json"* ]]
	# --help does not talk to idyld
	[ "$(subnet_count)" = 0 ]
}

# ---- where the CLI finds idyld: flags > environment > config file -------------

@test "IDYL_ADDR/IDYL_TOKEN, flags and the config file, in that precedence" {
	good_addr=$IDYL_ADDR good_token=$IDYL_TOKEN
	dead_addr=http://127.0.0.1:1
	cfg=$BATS_TEST_TMPDIR/config
	unset IDYL_ADDR IDYL_TOKEN
	export IDYL_CONFIG=$cfg

	# the config file alone
	printf '# idyl\naddr = %s\ntoken = %s\n' "$good_addr" "$good_token" >"$cfg"
	run idyl subnet create --region from-config -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .region)" = from-config ]

	# the environment over the config file
	IDYL_TOKEN=wrong run --separate-stderr idyl subnet list
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: invalid credential" ]
	IDYL_ADDR=$dead_addr run --separate-stderr idyl subnet list
	[ "$status" -eq 1 ]
	[[ "$stderr" == "error: cannot reach idyld at $dead_addr: "* ]]

	# flags over the environment
	IDYL_TOKEN=wrong run idyl subnet list --token "$good_token"
	[ "$status" -eq 0 ]
	IDYL_ADDR=$dead_addr run idyl subnet list --addr "$good_addr"
	[ "$status" -eq 0 ]
	IDYL_TOKEN=$good_token run --separate-stderr idyl subnet list --token wrong
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: invalid credential" ]

	# a config file with bad values loses to the environment
	printf 'addr = %s\ntoken = wrong\n' "$dead_addr" >"$cfg"
	IDYL_ADDR=$good_addr IDYL_TOKEN=$good_token run idyl subnet list -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[0].region')" = from-config ]

	# token-file in the config file
	echo "$good_token" >"$BATS_TEST_TMPDIR/tok"
	printf 'addr = %s\ntoken-file = %s\n' "$good_addr" "$BATS_TEST_TMPDIR/tok" >"$cfg"
	run idyl subnet list -o json
	[ "$status" -eq 0 ]

	# no credential anywhere
	printf 'addr = %s\n' "$good_addr" >"$cfg"
	run --separate-stderr idyl subnet list
	[ "$status" -eq 1 ]
	[ "$stderr" = "error: missing credential: send Authorization: Bearer <token>" ]

	# a broken config file is a usage error that names the line
	printf 'addr = %s\nbogus = 1\n' "$good_addr" >"$cfg"
	run --separate-stderr idyl subnet list
	[ "$status" -eq 2 ]
	[ "$stderr" = "error: $cfg:2: unknown key \"bogus\" (valid: addr, token, token-file, ca)" ]

	[ "$(IDYL_ADDR=$good_addr IDYL_TOKEN=$good_token IDYL_CONFIG=/dev/null subnet_count)" = 1 ]
}
