package tui

import (
	"errors"
	"os/exec"
	"testing"
)

// TestTmuxDemo runs scripts/tui-tmux-test.sh: the real binary in tmux at 80×24, through demo → answer →
// sign-off, and a closed terminal keeping an interrupted record. Not parallel: the demo uses fixed
// ports (the script isolates it in a network namespace when the host allows).
func TestTmuxDemo(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: install the Debian package tmux (apt-get install tmux) to run the terminal test")
	}
	if testing.Short() {
		t.Skip("-short: the terminal test builds and drives the binary")
	}
	out, err := exec.Command("bash", "../scripts/tui-tmux-test.sh").CombinedOutput()
	t.Logf("%s", out)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		t.Skip("tmux is not installed: install the Debian package tmux")
	}
	if err != nil {
		t.Fatalf("scripts/tui-tmux-test.sh: %v", err)
	}
}

// TestTmuxPeerDemo runs scripts/tui-tmux-peer-test.sh: both facilities of the demo in tmux at 160×48
// (and 80×24), answered and signed on both sides to OPERATION READY, both logs keeping it; then with
// the planted flaws, NOT READY shown on both sides with who blocks. Not parallel, for the same reason.
func TestTmuxPeerDemo(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: install the Debian package tmux (apt-get install tmux) to run the terminal test")
	}
	if testing.Short() {
		t.Skip("-short: the terminal test builds and drives the binary")
	}
	out, err := exec.Command("bash", "../scripts/tui-tmux-peer-test.sh").CombinedOutput()
	t.Logf("%s", out)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		t.Skip("tmux is not installed: install the Debian package tmux")
	}
	if err != nil {
		t.Fatalf("scripts/tui-tmux-peer-test.sh: %v", err)
	}
}
