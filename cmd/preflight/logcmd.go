package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/telesurgery-preflight/preflight/peer"
	"github.com/telesurgery-preflight/preflight/report"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
)

func logCmd() *cobra.Command {
	var logDir string
	c := &cobra.Command{
		Use:   "log",
		Short: "Inspect and verify the facility's run log",
		Long: `The run log keeps every run: its events journal, the exact profile, the sealed record and its sign-off,
each run a leaf of the facility's signed Merkle log. Default directory: --log-dir, else $PREFLIGHT_LOG_DIR,
else the one facility under ~/.local/state/preflight.`,
		Example: "  preflight log list --verdict no-go\n  preflight log show latest\n  preflight log verify\n  preflight log diff RUN-A RUN-B",
	}
	c.PersistentFlags().StringVar(&logDir, "log-dir", "", "the facility's log directory")
	dir := func() (string, error) { return resolveLogDir(logDir) }
	c.AddCommand(logListCmd(dir), logShowCmd(dir), logVerifyCmd(dir), logDiffCmd(dir), logTrustCmd(dir))
	return c
}

func logListCmd(dir func() (string, error)) *cobra.Command {
	var f runlog.ListFilter
	var since string
	c := &cobra.Command{
		Use:     "list",
		Short:   "List the runs of the log as a table",
		Example: "  preflight log list\n  preflight log list --operation OP-2026-118 --since 2026-12-01 --verdict no-go",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			switch f.Verdict {
			case "", runlog.GO, runlog.NoGo, runlog.Incomplete, "interrupted":
			default:
				return usageErr("--verdict %q: use go, no-go, incomplete or interrupted", f.Verdict)
			}
			if since != "" {
				if f.Since, err = parseSince(since); err != nil {
					return err
				}
			}
			runs, err := runlog.List(d, f)
			if err != nil {
				return &exitError{code: session.ExitUsage, err: err}
			}
			return report.ListText(cmd.OutOrStdout(), runs)
		},
	}
	c.Flags().StringVar(&f.Operation, "operation", "", "only runs of this operation ID")
	c.Flags().StringVar(&since, "since", "", "only runs started at or after DATE (2026-12-01, or RFC 3339)")
	c.Flags().StringVar(&f.Verdict, "verdict", "", "only runs with this verdict: go, no-go, incomplete, interrupted")
	return c
}

func parseSince(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErr("--since %q: write a date (2026-12-01) or an RFC 3339 time (2026-12-01T09:00:00Z)", s)
}

// loadDocument reads and verifies one run for show and report.
func loadDocument(dir, ref, lang string) (report.Document, error) {
	id, err := runlog.ResolveRun(dir, ref)
	if err != nil {
		return report.Document{}, &exitError{code: session.ExitUsage, err: err}
	}
	rf, err := runlog.LoadRun(dir, id)
	if err != nil {
		return report.Document{}, &exitError{code: runlog.VerifyTampered, err: err}
	}
	v, err := runlog.Verify(dir, runlog.VerifyOptions{Run: id})
	if err != nil {
		return report.Document{}, &exitError{code: session.ExitUsage, err: err}
	}
	return report.NewDocument(rf, v, lang), nil
}

func logShowCmd(dir func() (string, error)) *cobra.Command {
	var lang string
	c := &cobra.Command{
		Use:     "show RUN",
		Short:   "Show a run: record, sign-off with verification state, items, events timeline",
		Long:    "RUN is a run id, a unique prefix of one, or latest. For a joint verdict of the two facilities it shows\nthe verdict, its reasons and the two records it rests on.",
		Example: "  preflight log show latest\n  preflight log show 20261204T0930",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			if id, err := runlog.ResolveRun(d, args[0]); err == nil && runlog.IsJoint(d, id) {
				j, err := runlog.LoadJoint(d, id)
				if err != nil {
					return &exitError{code: runlog.VerifyTampered, err: err}
				}
				return peer.WriteJoint(cmd.OutOrStdout(), j)
			}
			doc, err := loadDocument(d, args[0], lang)
			if err != nil {
				return err
			}
			return report.Show(cmd.OutOrStdout(), doc)
		},
	}
	c.Flags().StringVar(&lang, "lang", defaultLang(), "language of labels: en or ja")
	return c
}

func logVerifyCmd(dir func() (string, error)) *cobra.Command {
	var roster string
	var held []string
	c := &cobra.Command{
		Use:   "verify [RUN]",
		Short: "Verify the log (or one run): hashes, chains, signatures, the Merkle tree",
		Long: `Replay every journal's hash chain, recompute every record's sha256, check every sign-off against the
roster, and rebuild the Merkle tree against the signed checkpoint. Every problem is printed with the file
and run it concerns.
Exit codes: 0 intact, 1 tampered, 2 usage, 3 incomplete (a run interrupted or never sealed), 4 unreadable.`,
		Example: "  preflight log verify\n  preflight log verify latest\n  preflight log verify --checkpoint peer-copy.checkpoint --roster trusted-roster",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			opt := runlog.VerifyOptions{Roster: roster}
			if len(args) == 1 {
				if opt.Run, err = runlog.ResolveRun(d, args[0]); err != nil {
					return &exitError{code: runlog.VerifyUsage, err: err}
				}
			}
			for _, h := range held {
				b, err := os.ReadFile(h)
				if err != nil {
					return usageErr("--checkpoint: %v", err)
				}
				opt.Checkpoints = append(opt.Checkpoints, b)
			}
			v, err := runlog.Verify(d, opt)
			if err != nil {
				return &exitError{code: runlog.VerifyUsage, err: err}
			}
			if err := report.VerifyText(cmd.OutOrStdout(), v); err != nil {
				return err
			}
			if code := v.ExitCode(); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	c.Flags().StringVar(&roster, "roster", "", "a trusted copy of the facility roster (default: the log's own)")
	c.Flags().StringArrayVar(&held, "checkpoint", nil, "a checkpoint kept outside the log (a report, the peer); the log must still contain what it covers")
	return c
}

func logDiffCmd(dir func() (string, error)) *cobra.Command {
	var lang string
	c := &cobra.Command{
		Use:     "diff RUN-A RUN-B",
		Short:   "What changed between two runs: flipped items, new open ports, changed evidence",
		Example: "  preflight log diff 20261203T0900 latest",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			var recs [2]*runlog.Record
			for i, ref := range args {
				id, err := runlog.ResolveRun(d, ref)
				if err != nil {
					return &exitError{code: session.ExitUsage, err: err}
				}
				rf, err := runlog.LoadRun(d, id)
				if err != nil {
					return &exitError{code: runlog.VerifyTampered, err: err}
				}
				recs[i] = rf.Record
			}
			return report.DiffText(cmd.OutOrStdout(), runlog.Compare(recs[0], recs[1]), lang)
		},
	}
	c.Flags().StringVar(&lang, "lang", defaultLang(), "language of labels: en or ja")
	return c
}

func logTrustCmd(dir func() (string, error)) *cobra.Command {
	var facility string
	c := &cobra.Command{
		Use:   "trust PUBFILE...",
		Short: "Add signers' public keys (USERID.pub from keygen) to the facility roster",
		Long: `Add each public key to the roster of trusted signers, which the facility key signs. A log that does not
exist yet is created when --facility names the facility (the profile's facility id).`,
		Example: "  preflight log trust hsato.pub --log-dir /var/lib/preflight/patient-site",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			return addSigners(cmd, d, facility, args)
		},
	}
	c.Flags().StringVar(&facility, "facility", "", "facility id, to create the log if it does not exist yet")
	return c
}

// openLog opens the facility log in dir as its writer, creating it for facility when it does not exist;
// a facility given must match the log's own.
func openLog(dir, facility string) (*runlog.Store, error) {
	have, err := runlog.FacilityOf(dir)
	switch {
	case err == nil && facility != "" && facility != have:
		return nil, usageErr("%s is the log of facility %s, not %s", dir, have, facility)
	case err == nil:
		facility = have
	case facility == "":
		return nil, usageErr("%v — or add --facility ID (the profile's facility id) to create it now", err)
	}
	st, err := runlog.Open(dir, facility)
	if err != nil {
		return nil, &exitError{code: session.ExitUsage, err: err}
	}
	return st, nil
}

func addSigners(cmd *cobra.Command, dir, facility string, pubs []string) error {
	st, err := openLog(dir, facility)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, p := range pubs {
		b, err := os.ReadFile(p)
		if err != nil {
			return usageErr("%v", err)
		}
		sg, err := runlog.ParseSignerLine(string(bytes.TrimSpace(b)))
		if err != nil {
			return usageErr("%s: %v", p, err)
		}
		if err := st.AddSigner(sg); err != nil {
			return usageErr("%s: %v", p, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "roster of %s: added %s (%s, %s)\n", facility, sg.Name, sg.Role, strings.SplitN(sg.Key, "+", 3)[0])
	}
	return nil
}

func reportCmd() *cobra.Command {
	var format, lang, logDir, out string
	c := &cobra.Command{
		Use:   "report RUN --format md|html|json|junit",
		Short: "Write a stored run as a report: Markdown, self-contained HTML, JSON record or JUnit XML",
		Long: `Write a run of the log as a report to attach to an incident file. The HTML report is one file with no
external assets, fit to print: verdict, signers, every item with evidence and guideline reference,
waivers, and whether the run verifies. RUN is a run id, a unique prefix, or latest.`,
		Example: "  preflight report latest --format html -o run.html\n  preflight report 20261204T0930 --format md",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "md", "html", "json", "junit":
			default:
				return usageErr("--format %q: use md, html, json or junit", format)
			}
			d, err := resolveLogDir(logDir)
			if err != nil {
				return err
			}
			if id, err := runlog.ResolveRun(d, args[0]); err == nil && runlog.IsJoint(d, id) {
				return usageErr("%s is a joint verdict of the two facilities, not a run: preflight log show %s", id, id)
			}
			doc, err := loadDocument(d, args[0], lang)
			if err != nil {
				return err
			}
			doc.Generated = time.Now()
			w := cmd.OutOrStdout()
			var buf bytes.Buffer
			if out != "" {
				w = &buf
			}
			switch format {
			case "md":
				err = report.Markdown(w, doc)
			case "html":
				err = report.HTML(w, doc)
			case "json":
				err = report.JSON(w, doc.Record)
			case "junit":
				err = report.JUnit(w, doc.Record, doc.Titles, lang)
			}
			if err != nil || out == "" {
				return err
			}
			return os.WriteFile(out, buf.Bytes(), 0o644)
		},
	}
	c.Flags().StringVar(&format, "format", "html", "md, html, json or junit")
	c.Flags().StringVar(&lang, "lang", defaultLang(), "language of labels: en or ja")
	c.Flags().StringVar(&logDir, "log-dir", "", "the facility's log directory")
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"md", "html", "json", "junit"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// resolveLogDir picks the log directory of the log commands: the flag, $PREFLIGHT_LOG_DIR, or the one
// facility log under the default state directory.
func resolveLogDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if d := os.Getenv("PREFLIGHT_LOG_DIR"); d != "" {
		return d, nil
	}
	base := filepath.Dir(defaultLogDir("x"))
	ents, err := os.ReadDir(base)
	var found []string
	for _, e := range ents {
		if e.IsDir() {
			found = append(found, e.Name())
		}
	}
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", usageErr("%v", err)
	case len(found) == 1:
		return filepath.Join(base, found[0]), nil
	case len(found) == 0:
		return "", usageErr("no run log found under %s: name one with --log-dir", base)
	}
	return "", usageErr("several facility logs under %s (%s): name one with --log-dir", base, strings.Join(found, ", "))
}
