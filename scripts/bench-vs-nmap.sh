#!/usr/bin/env bash
# Side-by-side timing of preflight's probes and the classic tools, on loopback only:
#   ports: preflight `ports` 1-65535 on 127.0.0.1   vs  nmap -sT -n -Pn -p- 127.0.0.1
#   tls:   preflight `tls` on one loopback endpoint  vs  sslscan 127.0.0.1:PORT
# Prints the median wall time of each and the ratio. Installs nmap, sslscan and openssl when run as root
# and missing. Usage: scripts/bench-vs-nmap.sh [RUNS]   (default 5)
set -euo pipefail
runs=${1:-5}
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nmap || ! need sslscan || ! need openssl; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nmap sslscan openssl >/dev/null
  else
    echo "bench: needs nmap, sslscan and openssl (apt-get install nmap sslscan openssl)" >&2; exit 2
  fi
fi

work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/preflight" ./cmd/preflight

# A TLS endpoint on loopback: openssl s_server with a throw-away certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo 18943)
openssl s_server -quiet -accept "127.0.0.1:$port" -cert "$work/cert.pem" -key "$work/key.pem" -www >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

cat > "$work/bench.yaml" <<YAML
preflight: 1
facility: {id: bench, role: patient-side, name: {en: "Benchmark host"}}
scope: ["127.0.0.0/8"]
targets:
  lo: {address: 127.0.0.1, name: localhost}
defaults: {timeout: 1s, deadline: 60s}
sections:
  - id: bench
    title: {en: "Benchmark"}
    items:
      - id: all-ports
        title: {en: "All TCP ports"}
        guideline: "V(1)-1"
        probe: {kind: ports, target: lo, ports: "1-65535"}
        remedy: {en: "-"}
YAML
sed -e "s/id: all-ports/id: tls-endpoint/" -e "s/All TCP ports/TLS endpoint/" \
    -e "s|probe: {kind: ports, target: lo, ports: \"1-65535\"}|probe: {kind: tls, target: lo, port: $port, ca: cert.pem}|" \
    "$work/bench.yaml" > "$work/tls.yaml"

# median wall-clock seconds of a command over $runs runs (output discarded, exit status ignored)
median() {
  local times=()
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    times+=("$(echo "$e - $s" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'
}

pf_ports=$(median "$work/preflight" run -p "$work/bench.yaml" --no-tui --format json --log-dir "$work/log")
nmap_ports=$(median nmap -sT -n -Pn -p- 127.0.0.1)
pf_tls=$(median "$work/preflight" run -p "$work/tls.yaml" --no-tui --format json --log-dir "$work/log")
sslscan_tls=$(median sslscan --no-colour "127.0.0.1:$port")

printf '%-44s %9s %9s %7s\n' "probe (median of $runs, loopback)" preflight other ratio
printf '%-44s %8ss %8ss %6.2fx\n' "ports 1-65535 vs nmap -sT -p- 127.0.0.1" "$pf_ports" "$nmap_ports" "$(echo "$nmap_ports / $pf_ports" | bc -l)"
printf '%-44s %8ss %8ss %6.2fx\n' "tls one endpoint vs sslscan" "$pf_tls" "$sslscan_tls" "$(echo "$sslscan_tls / $pf_tls" | bc -l)"
echo "(ratio = other / preflight; above 1 means preflight is faster)"
