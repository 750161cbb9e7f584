#!/usr/bin/env bash
# The test command: what CI runs, and what a developer runs. On a fresh Debian machine with Go, run it as
# root so it can install what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# System packages the tests use. Installed when missing and we are root on Debian; otherwise the tests
# that need them say so and skip.
pkgs=(gcc libc6-dev chromium)   # chromium: the HTML report is opened and screenshotted in a test
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "test.sh: gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
race=()
if command -v gcc >/dev/null; then race=(-race); fi
go test "${race[@]}" -count=1 ./...
