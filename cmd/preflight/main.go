// Command preflight runs the telesurgery network-readiness checklist. This file only wires flags and
// subcommands to the packages that do the work.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/lab"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
	"github.com/telesurgery-preflight/preflight/tui"
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func usageErr(format string, args ...any) error {
	return &exitError{code: session.ExitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs one command line and returns the process exit code.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(stderr, "preflight:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "preflight:", err)
	return session.ExitUsage
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "preflight",
		Short: "Network readiness checklist before a remote (tele-)surgery",
		Long: `preflight runs live network-security probes and manual attestations drawn from the remote-surgery
security guideline (section V), on each facility's side, and ends in a GO / NO-GO verdict.`,
		Example:       "  preflight demo\n  preflight validate my-hospital.yaml\n  preflight run -p my-hospital.yaml --operation OP-2026-118",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(runCmd(), demoCmd(), validateCmd(), templateCmd(), logCmd(), reportCmd(), keygenCmd(), versionCmd())
	return root
}

// runFlags are shared by run and demo.
type runFlags struct {
	operation, format, lang, logDir, attest, advisories, key string
	noTUI, sign                                              bool
}

func (f *runFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.operation, "operation", "", "operation ID both facilities use for this surgery")
	c.Flags().StringVar(&f.format, "format", "text", "report format: text, json or junit")
	c.Flags().StringVar(&f.lang, "lang", defaultLang(), "language of labels: en or ja (default from the locale)")
	c.Flags().BoolVar(&f.noTUI, "no-tui", false, "print a report instead of opening the interactive checklist (also when stdout is not a terminal, or with --attest or --format json|junit)")
	c.Flags().StringVar(&f.attest, "attest", "", "answers file for manual items and waivers (YAML: item-id: {answer: yes, evidence: \"…\"})")
	c.Flags().StringVar(&f.advisories, "advisories", "", "advisory set to judge firmware against, instead of the one built in (see README: keeping the advisory set current)")
	c.Flags().BoolVar(&f.sign, "sign", false, "sign the run off with --key (passphrase from $PREFLIGHT_PASSPHRASE, else asked on the terminal)")
	c.Flags().StringVar(&f.key, "key", "", "personal signing key file (preflight keygen) for --sign")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json", "junit"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("lang", cobra.FixedCompletions([]string{"en", "ja"}, cobra.ShellCompDirectiveNoFileComp))
}

func (f *runFlags) check() error {
	switch f.format {
	case "text", "json", "junit":
	default:
		return usageErr("--format %q: use text, json or junit", f.format)
	}
	if f.lang != "en" && f.lang != "ja" {
		return usageErr("--lang %q: use en or ja", f.lang)
	}
	switch {
	case f.sign && f.key == "":
		return usageErr("--sign needs --key KEYFILE (make one with preflight keygen)")
	case f.key != "" && !f.sign:
		return usageErr("--key is used with --sign: add --sign to sign the run off")
	}
	return nil
}

func runCmd() *cobra.Command {
	var f runFlags
	var profile string
	c := &cobra.Command{
		Use:   "run -p PROFILE",
		Short: "Run a facility's checklist",
		Long: `Run every probe of the profile, take the manual answers, and print the verdict.
Exit codes: 0 GO, 1 NO-GO, 2 usage or profile error (nothing probed), 3 incomplete (manual items unanswered).`,
		Example: "  preflight run -p hospital.yaml --operation OP-2026-118\n" +
			"  preflight run -p hospital.yaml --no-tui --format json --attest answers.yaml > record.json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if profile == "" {
				return usageErr("missing -p PROFILE: name the facility's profile file (preflight template writes a starting point)")
			}
			p, err := loadProfile(profile)
			if err != nil {
				return &exitError{code: session.ExitUsage, err: err}
			}
			if err := session.CheckVantage(p); err != nil {
				return &exitError{code: session.ExitUsage, err: err}
			}
			if f.logDir == "" {
				f.logDir = defaultLogDir(p.Facility.ID)
			}
			return runProfile(cmd, p, &f)
		},
	}
	c.Flags().StringVarP(&profile, "profile", "p", "", "profile file (YAML)")
	c.Flags().StringVar(&f.logDir, "log-dir", "", "where run records are kept (default $PREFLIGHT_LOG_DIR, else ~/.local/state/preflight/FACILITY)")
	f.register(c)
	return c
}

func demoCmd() *cobra.Command {
	var f runFlags
	var side string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Start simulated facilities on loopback and run the demo checklist",
		Long: `Start simulated services of a facility on 127.77.x.y (patient side) or 127.78.x.y (surgeon side) — no
root needed, nothing leaves this machine — and run the built-in demo profile against them. Some services
carry planted flaws (an unexpected open port, TLS 1.0, an expiring certificate, a DNS leak, no client
certificate demand) so the checklist shows NO-GO with evidence and remedies.`,
		Example: "  preflight demo\n  preflight demo --no-tui --format json\n  preflight demo --side surgeon --lang ja",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if _, ok := lab.Sides[side]; !ok {
				return usageErr("--side %q: use patient or surgeon", side)
			}
			if f.sign && f.logDir == "" {
				return usageErr("--sign seals the signed run into a run log: give --log-dir DIR too")
			}
			d, err := lab.StartDemo(side)
			if err != nil {
				return &exitError{code: session.ExitUsage, err: err}
			}
			defer d.Close()
			if f.operation == "" {
				f.operation = "DEMO-OP-1"
			}
			return runProfile(cmd, d.Profile, &f)
		},
	}
	c.Flags().StringVar(&side, "side", "patient", "which facility to simulate: patient or surgeon")
	c.Flags().StringVar(&f.logDir, "log-dir", "", "keep the demo's run record here (default: not kept)")
	_ = c.RegisterFlagCompletionFunc("side", cobra.FixedCompletions([]string{"patient", "surgeon"}, cobra.ShellCompDirectiveNoFileComp))
	f.register(c)
	return c
}

// runProfile runs p: in the interactive checklist when stdout is a terminal (and neither --no-tui, an
// answers file nor a machine format was asked for), otherwise with the plain runner. Ctrl-C, SIGTERM
// and SIGHUP end either one with the record kept, marked interrupted. With a log directory, the run is
// journaled and sealed into the facility log; with --sign it is signed off with the key, unlocked before
// anything is probed.
func runProfile(cmd *cobra.Command, p *profiles.Profile, f *runFlags) error {
	var att *runlog.Attestations
	if f.attest != "" {
		var err error
		if att, err = runlog.LoadAttestations(f.attest, p); err != nil {
			return &exitError{code: session.ExitUsage, err: err}
		}
	}
	var key *runlog.Key
	if f.sign {
		var err error
		if key, err = unlockKey(cmd, f.key); err != nil {
			return &exitError{code: session.ExitUsage, err: err}
		}
	}
	s := session.New(p, f.operation)
	if f.advisories != "" {
		set, err := profiles.LoadAdvisories(f.advisories)
		if err != nil {
			return &exitError{code: session.ExitUsage, err: err}
		}
		s.UseAdvisories(set)
	}
	var store *runlog.Store
	if f.logDir != "" {
		var err error
		if store, err = runlog.Open(f.logDir, p.Facility.ID); err != nil {
			return &exitError{code: session.ExitUsage, err: fmt.Errorf("open the run log: %w", err)}
		}
		defer store.Close()
		for _, n := range store.Notes {
			fmt.Fprintln(cmd.ErrOrStderr(), "preflight: run log:", n)
		}
	}
	if !f.noTUI && att == nil && f.format == "text" && isTerminal(cmd.OutOrStdout()) {
		var save tui.SaveFunc
		if store != nil {
			if err := s.UseStore(store); err != nil {
				return &exitError{code: session.ExitUsage, err: err}
			}
			save = store.SealFunc(key)
		}
		out, err := tui.Run(cmd.Context(), s, tui.Options{Lang: f.lang, Save: save, Signer: signer(key)})
		fmt.Fprintln(cmd.ErrOrStderr(), "preflight:", out.Summary())
		code := session.ExitCode(out.Verdict)
		switch {
		case err != nil:
			return &exitError{code: max(code, session.ExitNoGo), err: err}
		case out.SaveErr != nil:
			return &exitError{code: max(code, session.ExitNoGo)}
		case code != 0:
			return &exitError{code: code}
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	go func() { <-ctx.Done(); stop() }() // a second Ctrl-C ends the process the default way
	code, err := s.RunPlain(ctx, session.PlainOptions{
		Format: f.format, Lang: f.lang, Color: f.format == "text" && colorOK(cmd.OutOrStdout()),
		Attest: att, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), Progress: true, Store: store, Key: key,
	})
	if err != nil || code != 0 {
		return &exitError{code: code, err: err}
	}
	return nil
}

func validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PROFILE...",
		Short: "Check profiles strictly; print every problem as file:line:col",
		Long: `Decode and check each profile without probing anything. Every problem is printed as
file:line:col: message, all at once; the exit code is 2 when any profile has a problem.
Built-in profiles are named builtin:NAME (` + strings.Join(profiles.BuiltinNames(), ", ") + `).`,
		Example: "  preflight validate hospital.yaml\n  preflight validate builtin:demo-patient builtin:template-hospital",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, path := range args {
				p, err := loadProfile(path)
				if err != nil {
					bad++
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok — %s (%s), %d items, sha256 %s\n", path, p.Facility.ID,
					p.Facility.Role, len(p.Items()), p.SHA256[:12])
			}
			if bad > 0 {
				return &exitError{code: session.ExitUsage, err: fmt.Errorf("%d of %d profiles have problems", bad, len(args))}
			}
			return nil
		},
	}
}

func templateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "template",
		Short:   "Print a commented profile for a real hospital to start from",
		Example: "  preflight template > my-hospital.yaml && preflight validate my-hospital.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := profiles.BuiltinBytes("template-hospital")
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version and the probe kinds this build knows",
		Example: "  preflight version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "preflight %s (profile format %d; probe kinds: %s)\n",
				session.ToolVersion(), profiles.FormatVersion, strings.Join(checks.Kinds(), ", "))
		},
	}
}

func loadProfile(path string) (*profiles.Profile, error) {
	if name, ok := strings.CutPrefix(path, "builtin:"); ok {
		dir, _ := os.Getwd()
		return profiles.Builtin(name, dir)
	}
	return profiles.Load(path)
}

func defaultLang() string {
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if s := os.Getenv(v); s != "" {
			if strings.HasPrefix(s, "ja") {
				return "ja"
			}
			return "en"
		}
	}
	return "en"
}

func defaultLogDir(facility string) string {
	if d := os.Getenv("PREFLIGHT_LOG_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "preflight", facility)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "preflight", facility)
	}
	return filepath.Join(home, ".local", "state", "preflight", facility)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// colorOK reports whether w is a colour-capable terminal and the user has not asked for NO_COLOR.
func colorOK(w io.Writer) bool {
	if !isTerminal(w) {
		return false
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	return os.Getenv("TERM") != "dumb"
}

// signer is the owner of the unlocked key, for the sign-off form; nil without --sign.
func signer(k *runlog.Key) *tui.Signer {
	if k == nil {
		return nil
	}
	return &tui.Signer{Name: k.Name, Role: k.Role, UserID: k.UserID}
}
