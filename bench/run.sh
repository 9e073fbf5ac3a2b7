#!/bin/sh
# bench/run.sh runs golocust's load benchmark (see BENCHMARKS.md): it
# installs nginx and wrk with apt-get when they are missing and it may,
# then runs `go run ./bench/load` with any arguments given, e.g.
#   bench/run.sh                      # the recorded benchmark, about 4 minutes
#   bench/run.sh -d 5s -rounds 1      # a quick look
set -eu
cd "$(dirname "$0")/.."
missing=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing$missing" >&2
		apt-get install -y $missing >/dev/null || echo "could not install$missing; going on without" >&2
	else
		echo "note:$missing not installed; the benchmark runs without (a Go target replaces nginx)" >&2
	fi
fi
PATH="$PATH:/usr/sbin" exec go run ./bench/load "$@"
