#!/usr/bin/env bats
# What the command table gives shells and man, and what cmake --install puts
# where: idyl completion bash (accepted by bash -n, and completing), man
# pages for every command, the binaries and the hardened systemd units.
load helper

# complete WORDS...: what the completion offers for the last word.
complete_words() {
	bash -c 'source <(idyl completion bash)
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _idyl
		printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}

@test "idyl completion bash is accepted by bash -n, other shells are usage errors" {
	run idyl completion bash
	[ "$status" -eq 0 ]
	echo "$output" | bash -n
	[ "${lines[-1]}" = "complete -o default -F _idyl idyl" ]
	run --separate-stderr idyl completion fish
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'error: unsupported shell "fish": want bash' ]
}

@test "the completion completes nouns, verbs, options and values from the table" {
	[ "$(complete_words idyl wor)" = workload ]
	[ "$(complete_words idyl workload w)" = wait ]
	[ "$(complete_words idyl workload wait web --f)" = --for ]
	[ "$(complete_words idyl workload wait web --for ru)" = running ]
	[ "$(complete_words idyl config u)" = use-context ]
	[ "$(complete_words idyl deploy nginx --dry)" = --dry-run ]
	[ "$(complete_words idyl subnet list -o y)" = yaml ]
	[ "$(complete_words idyl workload list -o w)" = wide ]
	[ "$(complete_words idyl node dr)" = drain ]
	# every command of `idyl --help` is in the script
	idyl --help | awk '/^commands:/{on=1; next} on && !NF {exit} on {print $1}' | sort -u |
		while read -r noun; do
			complete_words idyl "" | grep -qx "$noun"
		done
}

@test "a man page per command, rendered by groff without warnings" {
	[ -s "$IDYL_BUILD/man/idyl.1" ]
	idyl --help | awk '/^commands:/{on=1; next} on && !NF {exit} on {print $1, (($2 ~ /^[a-z-]+$/) ? $2 : "")}' |
		while read -r noun verb; do
			page=idyl-$noun${verb:+-$verb}
			[ -s "$IDYL_BUILD/man/$page.1" ] || { echo "no man page $page"; false; }
			# the index lists it
			grep -Fqx ".B idyl $noun${verb:+ ${verb//-/\\-}}" "$IDYL_BUILD/man/idyl.1" ||
				{ echo "not in idyl.1: $noun $verb"; false; }
		done
	for f in "$IDYL_BUILD"/man/*.1; do
		run groff -man -Tutf8 -ww -z "$f"
		[ -z "$output" ] || { echo "$f: $output"; false; }
	done
	run man -l "$IDYL_BUILD/man/idyl-workload-wait.1"
	[[ "$output" == *"--for PHASE"* ]]
	[[ "$output" == *"--timeout DURATION"* ]]
}

@test "cmake --install puts binaries, man pages, completion and hardened units under the prefix" {
	p=$BATS_TEST_TMPDIR/prefix
	run cmake --install "$IDYL_BUILD" --prefix "$p"
	[ "$status" -eq 0 ]
	for b in idyl idyld idyl-sim; do [ -x "$p/bin/$b" ]; done
	[ "$("$p/bin/idyld" --version)" = "$(idyld --version)" ]
	[ -s "$p/share/man/man1/idyl.1" ]
	[ -s "$p/share/man/man1/idyl-workload-wait.1" ]
	bash -n "$p/share/bash-completion/completions/idyl"
	u=$p/lib/systemd/system/idyld.service
	grep -qx "ExecStart=$p/bin/idyld --listen 127.0.0.1:7480 --data-dir /var/lib/idyld --log-format json" "$u"
	for d in Type=notify User=idyld Group=idyld NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
		PrivateTmp=yes LimitNOFILE=65536 StateDirectory=idyld CapabilityBoundingSet=; do
		grep -qx "$d" "$u" || { echo "missing $d"; false; }
	done
	grep -qx "ExecStart=$p/bin/idyl node run" "$p/lib/systemd/system/idyl-node.service"
	r=$p/lib/systemd/system/idyld-replica.service
	grep -q "^ExecStart=$p/bin/idyld --listen \${IDYL_LISTEN} .*--store \${IDYL_STORE} --secret-key-file /etc/idyl/secret.key" "$r"
	grep -qx "EnvironmentFile=/etc/idyl/replica.env" "$r"
	grep -qx 'u idyld - "IDYL control plane" /var/lib/idyld' "$p/lib/sysusers.d/idyl.conf"
	if command -v systemd-analyze >/dev/null; then
		MANPATH=$p/share/man run systemd-analyze verify "$u" "$p/lib/systemd/system/idyl-node.service"
		echo "$output"
		[ "$status" -eq 0 ]
	fi
}
