// Command preflight runs the telesurgery network-readiness checklist. This file only wires flags and
// subcommands to the packages that do the work.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/telesurgery-preflight/preflight/checks"
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
	root.AddCommand(runCmd(), demoCmd(), validateCmd(), templateCmd(), logCmd(), reportCmd(), keygenCmd(),
		serveCmd(), exportCmd(), importCmd(), versionCmd())
	return root
}

// runFlags are shared by run and demo.
type runFlags struct {
	operation, format, lang, logDir, attest, advisories, key string
	noTUI, sign                                              bool
	peerWait                                                 time.Duration
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
	c.Flags().DurationVar(&f.peerWait, "peer-wait", 0, "without the TUI: after sealing, wait up to this long for the joint verdict to become OPERATION READY, or to be decided by the peer's run (profiles with a peer)")
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
		Long: `Run every probe of the profile, take the manual answers, and print the verdict. With a peer: block in the
profile, the other facility's state and the joint verdict are shown too (its own preflight serve must run).
Exit codes: 0 GO (and OPERATION READY when the profile has a peer), 1 NO-GO, 2 usage or profile error
(nothing probed), 3 incomplete (manual items unanswered), 4 GO here but the joint verdict is not ready.`,
		Example: "  preflight run -p hospital.yaml --operation OP-2026-118\n" +
			"  preflight run -p hospital.yaml --no-tui --format json --attest answers.yaml > record.json\n" +
			"  preflight run -p hospital.yaml --operation OP-2026-118 --no-tui --attest answers.yaml --sign --key me.key --peer-wait 10m",
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
