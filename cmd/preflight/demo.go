package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/telesurgery-preflight/preflight/lab"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
	"github.com/telesurgery-preflight/preflight/tui"
)

// demoFlags are the demo's own: which side is in front, which sides keep their planted flaws, and what
// the other side uses in automation.
type demoFlags struct {
	side, faults, peerAttest, peerKey, peerLogDir string
}

func demoCmd() *cobra.Command {
	var f runFlags
	var d demoFlags
	c := &cobra.Command{
		Use:   "demo",
		Short: "Start both simulated facilities on loopback and run their checklists, joined by the peer link",
		Long: `Start simulated services of both facilities — the patient side on 127.77.x.y, the surgeon side on
127.78.x.y; no root needed, nothing leaves this machine — each with its run log, its facility key and its
preflight serve on loopback, each profile pinning the other's key, and run both built-in demo profiles.
By default both keep their planted flaws (an unexpected open port, TLS 1.0, an expiring certificate, a DNS
leak, no client certificate demand; an expiring video relay certificate at the surgeon side), so the
joint verdict stays NOT READY with the reasons on both sides; --faults none simulates two healthy
facilities, which reach OPERATION READY once both are answered and signed.
In the terminal both checklists are shown (side by side from 160 columns, tab switches below that), each
signed off by a demo engineer whose key the demo makes; --side picks the one in front. Without the TUI
the --side facility's report goes to stdout and the other's progress to stderr, and --peer-attest and
--peer-key answer and sign the other side.`,
		Example: "  preflight demo\n  preflight demo --faults none\n  preflight demo --no-tui --format json\n" +
			"  preflight demo --faults none --no-tui --attest patient.yaml --peer-attest surgeon.yaml --sign --key hsato.key --peer-key ttanaka.key --log-dir p --peer-log-dir s",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if _, ok := lab.Sides[d.side]; !ok {
				return usageErr("--side %q: use patient or surgeon", d.side)
			}
			flawed, err := parseFaults(d.faults)
			if err != nil {
				return err
			}
			switch {
			case f.sign && f.logDir == "":
				return usageErr("--sign seals the signed run into a run log: give --log-dir DIR too")
			case d.peerKey != "" && !f.sign:
				return usageErr("--peer-key is used with --sign: add --sign to sign both sides off")
			}
			if f.operation == "" {
				f.operation = "DEMO-OP-1"
			}
			return runDemo(cmd, &f, &d, flawed)
		},
	}
	c.Flags().StringVar(&d.side, "side", "patient", "the facility in front (and on stdout without the TUI): patient or surgeon")
	c.Flags().StringVar(&d.faults, "faults", "all", "which sides keep their planted flaws: all, none, patient or surgeon")
	c.Flags().StringVar(&f.logDir, "log-dir", "", "keep the --side facility's run log here (default: a temporary one, removed at the end)")
	c.Flags().StringVar(&d.peerLogDir, "peer-log-dir", "", "keep the other facility's run log here (default: a temporary one)")
	c.Flags().StringVar(&d.peerAttest, "peer-attest", "", "answers file for the other facility's manual items (without the TUI)")
	c.Flags().StringVar(&d.peerKey, "peer-key", "", "signing key of the other facility's engineer, for --sign (without the TUI)")
	_ = c.RegisterFlagCompletionFunc("side", cobra.FixedCompletions([]string{"patient", "surgeon"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("faults", cobra.FixedCompletions([]string{"all", "none", "patient", "surgeon"}, cobra.ShellCompDirectiveNoFileComp))
	f.register(c)
	return c
}

func parseFaults(s string) (map[string]bool, error) {
	switch s {
	case "all", "patient,surgeon", "surgeon,patient":
		return map[string]bool{"patient": true, "surgeon": true}, nil
	case "none":
		return map[string]bool{}, nil
	case "patient", "surgeon":
		return map[string]bool{s: true}, nil
	}
	return nil, usageErr("--faults %q: use all, none, patient or surgeon", s)
}

// runDemo starts both facilities and runs both checklists, in the terminal or plain.
func runDemo(cmd *cobra.Command, f *runFlags, d *demoFlags, flawed map[string]bool) error {
	ui := interactive(cmd, f)
	other := lab.OtherSide[d.side]
	var keys [2]*runlog.Key // this side, the other side
	if f.sign {
		var err error
		if keys[0], err = unlockKey(cmd, f.key); err != nil {
			return &exitError{code: session.ExitUsage, err: err}
		}
		if d.peerKey != "" {
			if keys[1], err = unlockKey(cmd, d.peerKey); err != nil {
				return &exitError{code: session.ExitUsage, err: err}
			}
		}
	}
	pair, err := lab.StartPair(lab.PairOptions{Flawed: flawed, LogDirs: map[string]string{d.side: f.logDir, other: d.peerLogDir},
		DemoSigners: ui})
	if err != nil {
		return &exitError{code: session.ExitUsage, err: err}
	}
	defer pair.Close()
	var sides [2]*facility
	for i, name := range []string{d.side, other} {
		fc := pair.Sides[name]
		for _, n := range fc.Store.Notes {
			fmt.Fprintf(cmd.ErrOrStderr(), "preflight: run log of %s: %s\n", fc.Profile.Facility.ID, n)
		}
		attest := f.attest
		if i == 1 {
			attest = d.peerAttest
		}
		key := keys[i]
		if key == nil && ui {
			key = fc.Signer
		}
		if sides[i], err = newFacility(fc.Profile, f, fc.Store, attest, key); err != nil {
			return &exitError{code: session.ExitUsage, err: err}
		}
	}
	for _, name := range []string{d.side, other} {
		if fc := pair.Sides[name]; fc.Temporary {
			fmt.Fprintf(cmd.ErrOrStderr(), "preflight: demo: %s keeps its run log in %s for the peer exchange; it is removed when the demo ends (give --log-dir / --peer-log-dir to keep it)\n",
				fc.Profile.Facility.ID, fc.Store.Dir)
		}
	}
	if ui {
		return runDemoTUI(cmd, f, sides)
	}
	return runDemoPlain(cmd, f, sides)
}

// runDemoTUI shows both checklists; the first side has the keys first.
func runDemoTUI(cmd *cobra.Command, f *runFlags, sides [2]*facility) error {
	var ps [2]tui.PairSide
	for i, fa := range sides {
		o, err := fa.tuiOptions(f, signer(fa.key))
		if err != nil {
			return err
		}
		ps[i] = tui.PairSide{Session: fa.sess, Options: o}
	}
	focus := 0
	if sides[0].p.Facility.Role == "surgeon-side" { // the patient side stays on the left
		ps[0], ps[1], focus = ps[1], ps[0], 1
	}
	outs, err := tui.RunPair(cmd.Context(), ps[0], ps[1], focus)
	this := outs[focus]
	fmt.Fprintf(cmd.ErrOrStderr(), "preflight: other side: %s\n", outs[1-focus].Summary())
	return sides[0].tuiExit(cmd.ErrOrStderr(), this, err)
}

// runDemoPlain runs both checklists at once: this side's report on stdout, the other side's progress
// on stderr with its facility id in front of every line; then each side looks at the other.
func runDemoPlain(cmd *cobra.Command, f *runFlags, sides [2]*facility) error {
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	var mu sync.Mutex
	stderr := lockedWriter{mu: &mu, w: cmd.ErrOrStderr()}
	otherErr := &prefixWriter{prefix: "[" + sides[1].p.Facility.ID + "] ", w: stderr}
	var wg sync.WaitGroup
	var otherCode int
	var otherErrV error
	wg.Go(func() {
		of := *f
		of.format = "text"
		otherCode, otherErrV = sides[1].runPlain(ctx, &of, io.Discard, otherErr)
	})
	code, err := sides[0].runPlain(ctx, f, cmd.OutOrStdout(), stderr)
	wg.Wait()
	if otherErrV != nil {
		fmt.Fprintf(otherErr, "preflight: %v\n", otherErrV)
	}
	fmt.Fprintf(otherErr, "preflight: %s: %s\n", sides[1].p.Facility.ID, verdictLine(sides[1].sess.Record, otherCode))
	if err != nil || ctx.Err() != nil {
		return exitWith(code, err)
	}
	code = sides[0].joint(ctx, f, cmd.OutOrStdout(), stderr, code)
	of := *f
	of.format = "json" // its status goes to stderr
	sides[1].joint(ctx, &of, io.Discard, otherErr, otherCode)
	return exitWith(code, nil)
}

func verdictLine(r *runlog.Record, code int) string {
	s := fmt.Sprintf("run %s: verdict %s (exit %d)", r.RunID, strings.ToUpper(r.Verdict), code)
	if r.Signature != "" && r.Signoff != nil {
		s += fmt.Sprintf(", signed %s by %s", r.Signoff.Meaning, r.Signoff.Name)
	}
	return s
}
