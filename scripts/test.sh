#!/usr/bin/env bash
# The whole test suite of Foyer, on a fresh machine or in CI:
#   1. provisions what the tests need (redis-server from Debian packages),
#   2. runs go vet and the race-enabled tests.
# Tests that need Redis start their own throwaway redis-server; with
# FOYER_REQUIRE_REDIS=1 (set here) they fail instead of skipping when it is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing $* from Debian packages" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null
		return 0
	fi
	return 1
}

if ! command -v redis-server >/dev/null 2>&1; then
	if ! apt_install redis-server; then
		echo "test.sh: redis-server is missing. Install it first, e.g.: sudo apt-get install redis-server" >&2
		exit 1
	fi
fi
# The Debian package starts a system instance; the tests never use it.
redis-server --version

export FOYER_REQUIRE_REDIS=1
go version
echo "== go vet"
go vet ./...
# Allocation tests skip under the race detector (sync.Pool drops items at
# random there); run them once without it.
echo "== allocation tests (no race detector)"
go test -count=1 -run 'Allocs' ./...
echo "== go test -race"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -race -count=1 -timeout 14m "$@" ./... 2>&1 | tee "$log" || status=$?
# A closing line any CI reads: packages that passed and failed.
passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep -c '^FAIL[[:space:]]' "$log" || true)
echo "packages: ${passed} passed, ${failed} failed"
exit "$status"
