#!/usr/bin/env bash
# The test command: what CI runs, and what a developer runs. On a fresh Debian machine with Go, run it as
# root so it can install what the tests need and run the network-namespace lab.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

# System packages the tests use. Installed when missing and we are root on Debian; otherwise the tests
# that need them say so and skip.
#   gcc, libc6-dev          go test -race
#   openssh-server, nginx   the ssh and http probes against Debian's real sshd and nginx
#   snmpd                   the firmware probe's snmp source against Debian's real snmpd
#   chrony                  the ntp probe against a real chronyd
#   iproute2, nftables,     the network-namespace lab (lab/netlab, lab/e2e), which runs nginx, unbound,
#   unbound                 sshd and snmpd inside namespaces of its own; route/icmp tests in private ones
#   tmux                    the TUI driven in a real terminal (scripts/tui-tmux-test.sh)
#   chromium                the HTML report opened and screenshotted in a test
pkgs=(gcc libc6-dev openssh-server openssh-client nginx snmpd chrony iproute2 nftables unbound tmux chromium)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test.sh: installing ${missing[*]}"
  # The lab starts these daemons itself, inside its namespaces; keep the packages from starting system
  # services on the host while they install (policy-rc.d exit 101 = "not now"), unless a policy exists.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$policy" ]; then rm -f "$policy"; trap - EXIT; fi
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "test.sh: gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
race=()
if command -v gcc >/dev/null; then race=(-race); fi
# Everything but the end-to-end lab, with the race detector.
go test "${race[@]}" -count=1 $(go list ./... | grep -v '/lab/e2e$')

# The end-to-end lab on its own, last: it times a carrier relay and link quality, so no other package may
# compete for the CPU, and it must finish within its 5-minute budget. With -race the preflight binary it
# runs is built with the race detector too. Not root (or no `ip netns`): its tests skip and say why.
echo "test.sh: end-to-end lab (lab/e2e)"
go test "${race[@]}" -count=1 -timeout 5m ./lab/e2e/
