#!/usr/bin/env bash
# Runs keyward's whole test suite: formatting, vet, and every test with the
# race detector, integration tests included (they start real redis-server
# processes and call the real AWS CLI). Installs redis-server with apt-get
# when it is missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's packages of the engines the tests run: redis-server, and
# memcached for Memcached clusters.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v memcached >/dev/null 2>&1 || [ -x /usr/bin/memcached ] || missing="$missing memcached"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing$missing (Debian packages)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	else
		echo "missing:$missing: install them (e.g. apt-get install$missing)" >&2
	fi
fi

# The AWS CLI and botocore (second-opinion clients) come with the machine's
# Python (pyenv on this image); make sure a stripped PATH still finds them.
for d in "${PYENV_ROOT:-$HOME/.pyenv}/shims" /root/.pyenv/shims; do
	if ! command -v aws >/dev/null 2>&1 && [ -x "$d/aws" ]; then
		export PATH="$d:$PATH"
	fi
done

# No integration test may skip: a missing binary is a failure, not a pass.
export KEYWARD_REQUIRE_INTEGRATION="${KEYWARD_REQUIRE_INTEGRATION:-1}"

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go test -race -count=1 -timeout 25m ./... "$@"

# The API suites again with PostgreSQL as the store (a throwaway server that
# the tests start themselves): both stores must behave the same.
KEYWARD_TEST_STORE=postgres go test -race -count=1 -timeout 25m ./api/ ./server/ "$@"
