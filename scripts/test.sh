#!/usr/bin/env bash
# The test command: what CI runs, and what a developer runs. On a fresh Debian machine with Go, run it as
# root so it can install what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# System packages the tests use. Installed when missing and we are root on Debian; otherwise the tests
# that need them say so and skip.
#   gcc, libc6-dev     go test -race
#   openssh-server     the ssh probe against Debian's real sshd (also ssh-keygen)
#   nginx              the http probe against Debian's real nginx
#   chrony, iproute2   the ntp probe against a real chronyd; route/icmp tests in private namespaces
#   tmux               the TUI driven in a real terminal (scripts/tui-tmux-test.sh)
#   chromium           the HTML report opened and screenshotted in a test
#   snmpd              the firmware probe's snmp source against Debian's real snmpd
pkgs=(gcc libc6-dev openssh-server openssh-client nginx chrony iproute2 snmpd tmux chromium)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test.sh: installing ${missing[*]}"
  # Daemons must not start on install (they would listen on all interfaces): tests start their own,
  # on loopback, and stop them.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "test.sh: gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
race=()
if command -v gcc >/dev/null; then race=(-race); fi
go test "${race[@]}" -count=1 ./...
