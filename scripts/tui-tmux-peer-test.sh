#!/usr/bin/env bash
# Drives the two-facility demo in a real terminal (tmux), the way the two engineers would:
#   1. `preflight demo --faults none` at 160×48: both checklists side by side; every manual item of both
#      sides answered (not applicable), both signed off with the demo engineers' keys; both peer panels
#      reach OPERATION READY over the peer link; both logs keep the joint verdict and verify.
#      The same demo is then shown at 80×24 (one side, tab switches) and captured.
#   2. `preflight demo` with its planted flaws: both panels hold the joint verdict at NOT READY, each saying
#      which side blocks.
# Run by tui/tmux_test.go (go test ./tui). Needs tmux (Debian package tmux). The demo listens on fixed
# 127.77.x.y / 127.78.x.y addresses: each demo runs in a private network namespace (unshare --net,
# loopback only) when this host allows it, so it never collides with another test's demo.
name=tui-tmux-peer-test
. "$(dirname "$0")/tmux-lib.sh"

# answer_all SESSION PROFILE: from the top of the list, answer every manual item "not applicable".
answer_all() {
  local s=$1 profile=$2 pos=0 idx=0
  keys "$s" g
  for m in $(awk '/^      - id:/{if (id!="") print kind; id=$3; kind="probe"} /^        manual:/{kind="manual"} END{print kind}' "$profile"); do
    if [ "$m" = manual ]; then
      while [ $pos -lt $idx ]; do keys "$s" j; pos=$((pos + 1)); done
      keys "$s" a
      wait_for "$s" "Answer: NOT APPLICABLE" 5
      keys "$s" Enter
      wait_for "$s" "answered: N/A" 5
    fi
    idx=$((idx + 1))
  done
}

probes_of() { echo "$(grep -c '^ *probe:' "$1")/$(grep -c '^      - id:' "$1") done"; }
patient=profiles/builtin/demo-patient.yaml
surgeon=profiles/builtin/demo-surgeon.yaml

start_demo() { # SESSION WIDTH HEIGHT ARGS...
  local s=$1 w=$2 h=$3
  shift 3
  t new-session -d -s "$s" -x "$w" -y "$h" "ISOLATE=$isolate $work/pane.sh $work/preflight demo --lang en $* 2>$work/$s.stderr"
  t set-option -s escape-time 10 >/dev/null
}

# --- 1. two healthy facilities → OPERATION READY on both sides -------------------------------------
start_demo ready 160 48 --faults none --log-dir "$work/p" --peer-log-dir "$work/s"
wait_for ready "$(probes_of $patient)"
wait_for ready "$(probes_of $surgeon)"
answer_all ready $patient
keys ready s
wait_for ready "Statement you sign"
keys ready Enter
wait_for ready "Record written"
keys ready Tab
answer_all ready $surgeon
keys ready s
wait_for ready "Statement you sign"
keys ready Enter
wait_count ready "Record written" 2
wait_count ready "OPERATION READY" 2 15
echo "tui-tmux-peer-test: both facilities at 160×48 after both signed:"
screen ready
t resize-window -t ready -x 80 -y 24
sleep 0.5
wait_for ready "OPERATION READY"
echo "tui-tmux-peer-test: the same at 80×24 (surgeon side in front; tab switches):"
screen ready
keys ready Tab
wait_for ready "patient side"
echo "tui-tmux-peer-test: 80×24, patient side in front:"
screen ready
keys ready q
for _ in $(seq 50); do t has-session -t ready 2>/dev/null || break; sleep 0.1; done
t has-session -t ready 2>/dev/null && fail "q did not end the demo"
for d in p s; do
  "$work/preflight" log list --log-dir "$work/$d" | grep -qE 'DEMO-OP-1 +READY +joint verdict' || fail "log $d keeps no OPERATION READY"
  "$work/preflight" log verify --log-dir "$work/$d" >/dev/null || fail "log $d does not verify"
done
grep -qF "joint verdict for operation DEMO-OP-1: OPERATION READY" "$work/ready.stderr" || fail "no joint verdict on stderr: $(cat "$work/ready.stderr")"

# --- 2. planted flaws: both sign off as they stand (NOT confirmed); NOT READY on both, with who blocks --
start_demo flawed 160 48
wait_for flawed "$(probes_of $patient)"
wait_for flawed "$(probes_of $surgeon)"
wait_count flawed "NO-GO so far" 2 15
for side in patient surgeon; do
  keys flawed s
  wait_for flawed "signing records that readiness is NOT confirmed"
  keys flawed Enter
  wait_for flawed "Record written"
  [ $side = patient ] && keys flawed Tab
done
wait_count flawed "joint  NOT READY  peer ✘ NO-GO" 2 15
keys flawed p # every reason, on the surgeon side in front
wait_for flawed "surgeon-site (this side) is NO-GO: video-relay-tls"
wait_for flawed "patient-site (peer) is NO-GO: dns-no-leak"
keys flawed Escape Tab p
wait_for flawed "patient-site (this side) is NO-GO: dns-no-leak"
wait_for flawed "surgeon-site (peer) is NO-GO: video-relay-tls"
echo "tui-tmux-peer-test: planted flaws at 160×48:"
screen flawed
t kill-session -t flawed
echo "tui-tmux-peer-test: PASS"
