# A real containerd for end-to-end tests: its own root, state, socket and
# config in a temporary directory, the CRI plugin reading CNI configuration
# from CNI_CONF_DIR (where the node agent, joined with --cni-conf-dir,
# installs its network) and Debian's plugins from /usr/lib/cni, and a busybox
# workload image and a pause-like sandbox image built from busybox-static and
# imported with ctr (no registry is reachable). The CNI bridge and its
# iptables rules are the network namespace's: the file runs in one of its
# own (tests/e2e/in-netns, as ctest runs it).

CTR_NS=k8s.io
PAUSE_IMAGE=docker.io/idyl/pause:1

# Writes containerd's configuration for state dir $1 to $1/config.toml.
# Extra TOML (more runtimes) may follow on stdin.
containerd_config() {
	local dir=$1
	cat >"$dir/config.toml" <<-TOML
		version = 2
		root = "$dir/root"
		state = "$dir/state"
		[grpc]
		  address = "$dir/c.sock"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$dir/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$PAUSE_IMAGE"
		  # no CAP_SYS_RESOURCE in a build sandbox: never ask for a lower oom_score_adj
		  restrict_oom_score_adj = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		    # configured as an operator would, though Kata is not installed here
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-qemu]
		      runtime_type = "io.containerd.kata-qemu.v2"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "$CNI_BIN_DIR"
		    conf_dir = "$CNI_CONF_DIR"
	TOML
}

# Starts containerd in $1 (a short path: socket paths must fit sun_path);
# sets CONTAINERD_SOCK, CONTAINERD_PID, CNI_CONF_DIR (empty: the agent
# installs the network) and CNI_BIN_DIR.
start_containerd() {
	local dir=$1
	[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net)" ] || {
		echo "run this file in its own network namespace: tests/e2e/in-netns bats $BATS_TEST_FILENAME" >&2
		return 1
	}
	CNI_CONF_DIR=$dir/cni/conf
	CNI_BIN_DIR=/usr/lib/cni
	export CNI_CONF_DIR CNI_BIN_DIR
	mkdir -p "$dir" "$CNI_CONF_DIR"
	containerd_config "$dir"
	CONTAINERD_SOCK=$dir/c.sock
	containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
	CONTAINERD_PID=$!
	for _ in $(seq 300); do
		ctr -a "$CONTAINERD_SOCK" version >/dev/null 2>&1 && break
		sleep 0.1
	done
	ctr -a "$CONTAINERD_SOCK" version >/dev/null || {
		tail -20 "$dir/containerd.log" >&2
		return 1
	}
	export CONTAINERD_SOCK CONTAINERD_PID
}

# ctr on our containerd, in the CRI namespace.
cctr() { ctr -a "$CONTAINERD_SOCK" -n "$CTR_NS" "$@"; }

stop_containerd() {
	[ -n "${CONTAINERD_PID:-}" ] || return 0
	# tasks first, so no shim outlives the test
	local id
	for id in $(cctr tasks ls -q 2>/dev/null); do cctr tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
	sleep 0.5
	for id in $(cctr tasks ls -q 2>/dev/null); do cctr tasks delete -f "$id" >/dev/null 2>&1 || true; done
	kill "$CONTAINERD_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$CONTAINERD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$CONTAINERD_PID" 2>/dev/null || true
	CONTAINERD_PID=
}

# image_archive REF OUT.tar ENTRYPOINT-JSON CMD-JSON: a docker-archive (the
# layout `docker save` writes) of a busybox-static rootfs.
image_archive() {
	local ref=$1 out=$2 entrypoint=$3 cmd=$4 work root layer_sum cfg cfg_sum
	work=$(mktemp -d)
	root=$work/rootfs
	mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$work/layer"
	cp "$(command -v busybox)" "$root/bin/busybox"
	for c in sh echo sleep cat ls true false env kill date wget nc hostname; do
		ln -s busybox "$root/bin/$c"
	done
	tar -C "$root" -cf "$work/layer/layer.tar" .
	layer_sum=$(sha256sum "$work/layer/layer.tar" | cut -d' ' -f1)
	cfg=$(jq -cn --arg diff "sha256:$layer_sum" --argjson ep "$entrypoint" --argjson cmd "$cmd" '{
		architecture: "amd64", os: "linux",
		config: {Env: ["PATH=/bin"], Entrypoint: $ep, Cmd: $cmd},
		rootfs: {type: "layers", diff_ids: [$diff]}}')
	cfg_sum=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
	printf '%s' "$cfg" >"$work/$cfg_sum.json"
	jq -cn --arg c "$cfg_sum.json" --arg r "$ref" \
		'[{Config: $c, RepoTags: [$r], Layers: ["layer/layer.tar"]}]' >"$work/manifest.json"
	tar -C "$work" -cf "$out" manifest.json "$cfg_sum.json" layer
	rm -rf "$work"
}

# Imports the pause image and the busybox workload image (idyl/busybox:latest).
load_images() {
	local tar
	tar=$(mktemp)
	image_archive idyl/pause:1 "$tar" '["/bin/sleep"]' '["2147483647"]'
	cctr images import "$tar" >/dev/null
	image_archive idyl/busybox:latest "$tar" null '["sh"]'
	cctr images import "$tar" >/dev/null
	rm -f "$tar"
	cctr images ls -q | grep -qx "$PAUSE_IMAGE"
	cctr images ls -q | grep -qx docker.io/idyl/busybox:latest
}
