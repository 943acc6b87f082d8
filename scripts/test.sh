#!/usr/bin/env bash
# The whole test suite of Foyer, on a fresh machine or in CI:
#   1. provisions what the tests need: redis-server and chromium from Debian
#      packages, axe-core from the npm registry into .cache/axe-core
#      (ignored by git; nothing downloaded is committed),
#   2. runs go vet and the race-enabled tests.
# Tests that need Redis start their own throwaway redis-server; the browser
# test starts its own headless chromium. With FOYER_REQUIRE_REDIS=1 and
# FOYER_REQUIRE_BROWSER=1 (set here) they fail instead of skipping when what
# they need is missing.
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

# The browser test (cmd/foyer/browser_test.go) drives a headless chromium;
# the fonts make its screenshots legible.
chromium_bin() {
	command -v chromium || command -v chromium-browser || command -v google-chrome || true
}
if [ -z "$(chromium_bin)" ]; then
	if ! apt_install chromium fonts-liberation; then
		echo "test.sh: chromium is missing. Install it first, e.g.: sudo apt-get install chromium" >&2
		exit 1
	fi
fi
if ! "$(chromium_bin)" --version 2>/dev/null; then
	echo "test.sh: $(chromium_bin) is installed but does not run" >&2
	exit 1
fi

# axe-core checks the accessibility of the queue pages. It is fetched at a
# pinned version (browsertest.AxeVersion) into a directory git ignores.
axe_version=4.14.1
axe_dir=.cache/axe-core
axe_js="$axe_dir/node_modules/axe-core/axe.min.js"
if ! grep -qs "\"version\": \"$axe_version\"" "$axe_dir/node_modules/axe-core/package.json"; then
	if ! command -v npm >/dev/null 2>&1 && ! apt_install npm; then
		echo "test.sh: npm is missing (needed to fetch axe-core). Install Node.js and npm first, e.g.: sudo apt-get install npm" >&2
		exit 1
	fi
	echo "test.sh: fetching axe-core $axe_version from the npm registry into $axe_dir" >&2
	npm install --prefix "$axe_dir" --no-save --no-package-lock --no-audit --no-fund \
		--loglevel=error "axe-core@$axe_version" >/dev/null
fi
FOYER_AXE_JS="$(pwd)/$axe_js"
echo "axe-core $axe_version: $FOYER_AXE_JS"
# Screenshots of the browser test; CI may keep them as artifacts.
FOYER_SCREENSHOTS="${FOYER_SCREENSHOTS:-$(pwd)/artifacts/screenshots}"
export FOYER_AXE_JS FOYER_SCREENSHOTS

export FOYER_REQUIRE_REDIS=1 FOYER_REQUIRE_BROWSER=1
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
