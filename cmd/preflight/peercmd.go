package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/telesurgery-preflight/preflight/peer"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
)

// Exit codes of import.
const (
	importOK       = 0 // verified and kept
	importRejected = 1 // the bundle does not verify: nothing of it was kept
)

// peerProfile loads a profile that must name its peer, and the facility's log directory.
func peerProfile(path, logDir string) (*profiles.Profile, *peer.Pin, string, error) {
	if path == "" {
		return nil, nil, "", usageErr("missing -p PROFILE: the facility's profile names the peer and pins its key")
	}
	p, err := loadProfile(path)
	if err != nil {
		return nil, nil, "", &exitError{code: session.ExitUsage, err: err}
	}
	pin, err := peer.PinOf(p)
	if err != nil {
		return nil, nil, "", usageErr("%s: %v", path, err)
	}
	if logDir == "" {
		logDir = defaultLogDir(p.Facility.ID)
	}
	return p, pin, logDir, nil
}

func serveCmd() *cobra.Command {
	var profile, logDir, listen string
	c := &cobra.Command{
		Use:   "serve -p PROFILE",
		Short: "Serve this facility's sealed records to the pinned peer facility (mutual TLS)",
		Long: `Serve this facility's latest sealed record of each operation, its sign-off, the roster and the log
checkpoint (with consistency and inclusion proofs) to the other facility, read-only, over TLS 1.3 with
both facilities' keys pinned: only the key the profile pins as peer.key gets an answer. Listens on the
profile's peer.listen (one address: never all interfaces) until Ctrl-C or SIGTERM. Keep it running at
each facility while operations are prepared (e.g. as a systemd unit); run and demo ask it.`,
		Example: "  preflight serve -p hospital.yaml\n  preflight serve -p hospital.yaml --log-dir /var/lib/preflight/patient-site",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, pin, dir, err := peerProfile(profile, logDir)
			if err != nil {
				return err
			}
			addr := listen
			if addr == "" {
				addr = p.Peer.Listen
			}
			ap, err := netip.ParseAddrPort(addr)
			switch {
			case addr == "":
				return usageErr("%s: peer.listen is missing: the address:port of this host on the closed network (or --listen)", profile)
			case err != nil || ap.Addr().IsUnspecified():
				return usageErr("listen address %q: give one IP address and a port, never all interfaces", addr)
			}
			id, err := peer.LoadIdentity(dir)
			if err != nil {
				return usageErr("%v", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usageErr("listen on %s: %v", addr, err)
			}
			srv := &peer.Server{Dir: dir, Identity: id, Peer: pin, Facility: peer.Facility{ID: p.Facility.ID, Role: p.Facility.Role},
				Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s (%s) to %s on %s — this facility's key %s\n",
				p.Facility.ID, dir, pin.ID, ln.Addr(), id.Key.Pin())
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			go func() { <-ctx.Done(); srv.Close() }()
			if err := srv.Serve(ln); err != nil {
				return &exitError{code: session.ExitNoGo, err: err}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&profile, "profile", "p", "", "this facility's profile (its peer block names the other facility)")
	c.Flags().StringVar(&logDir, "log-dir", "", "this facility's run log (default $PREFLIGHT_LOG_DIR, else ~/.local/state/preflight/FACILITY)")
	c.Flags().StringVar(&listen, "listen", "", "address:port to listen on instead of the profile's peer.listen")
	return c
}

func exportCmd() *cobra.Command {
	var profile, logDir, op, out string
	c := &cobra.Command{
		Use:   "export --operation ID -p PROFILE -o FILE",
		Short: "Write a signed bundle of this facility's sealed record for an operation (air-gapped exchange)",
		Long: `Write what preflight serve would answer about an operation — the latest sealed record and its sign-off,
the roster, the checkpoint and the log's leaf hashes — as one file signed with the facility key, for the
other facility to check with preflight import when there is no link between the two.`,
		Example: "  preflight export --operation OP-2026-118 -p hospital.yaml -o OP-2026-118-patient.bundle",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if profile == "" || op == "" {
				return usageErr("export needs -p PROFILE and --operation ID")
			}
			p, err := loadProfile(profile)
			if err != nil {
				return &exitError{code: session.ExitUsage, err: err}
			}
			if logDir == "" {
				logDir = defaultLogDir(p.Facility.ID)
			}
			peerID := ""
			if p.Peer != nil {
				peerID = p.Peer.ID
			}
			b, err := peer.Export(logDir, p.Facility.Role, op, peerID, time.Now())
			if err != nil {
				return usageErr("%v", err)
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return usageErr("%v", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: operation %s of %s, signed with its facility key (%d bytes)\n", out, op, p.Facility.ID, len(b))
			return nil
		},
	}
	c.Flags().StringVarP(&profile, "profile", "p", "", "this facility's profile")
	c.Flags().StringVar(&logDir, "log-dir", "", "this facility's run log (default $PREFLIGHT_LOG_DIR, else ~/.local/state/preflight/FACILITY)")
	c.Flags().StringVar(&op, "operation", "", "the operation ID")
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	return c
}

func importCmd() *cobra.Command {
	var profile, logDir, op string
	c := &cobra.Command{
		Use:   "import FILE -p PROFILE",
		Short: "Verify the other facility's bundle and keep it: same checks as the peer link",
		Long: `Check a bundle from the other facility's preflight export exactly as the peer link checks a live answer
— its manifest and checkpoint against the pinned peer.key, the record's hash, its inclusion in the signed
log, its sign-off against the peer's roster, the log's consistency with what this facility witnessed
before — then witness its checkpoint, keep its record and the joint verdict in this facility's log.
Exit codes: 0 verified and kept, 1 the bundle does not verify (nothing kept), 2 usage.`,
		Example: "  preflight import OP-2026-118-surgeon.bundle -p hospital.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, dir, err := peerProfile(profile, logDir)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageErr("%v", err)
			}
			if len(data) > peer.MaxBundle {
				return &exitError{code: importRejected, err: fmt.Errorf("%s: %d bytes, more than a bundle may have", args[0], len(data))}
			}
			if op == "" {
				op = peer.BundleOperation(data)
			}
			st, err := runlog.Open(dir, p.Facility.ID)
			if err != nil {
				return usageErr("open the run log: %v", err)
			}
			defer st.Close()
			link := peer.NewLink(p, op, st)
			status, err := link.Import(data, args[0])
			if err != nil {
				return &exitError{code: importRejected, err: fmt.Errorf("refused: %w", err)}
			}
			var b bytes.Buffer
			_ = peer.WriteStatus(&b, status)
			_, err = cmd.OutOrStdout().Write(b.Bytes())
			return err
		},
	}
	c.Flags().StringVarP(&profile, "profile", "p", "", "this facility's profile (its peer block pins the other facility's key)")
	c.Flags().StringVar(&logDir, "log-dir", "", "this facility's run log (default $PREFLIGHT_LOG_DIR, else ~/.local/state/preflight/FACILITY)")
	c.Flags().StringVar(&op, "operation", "", "the operation the bundle must be of (default: the one it names)")
	return c
}

// facilityIdentity makes (or shows) the facility's TLS identity for the peer link in the log dir, and
// prints the line the other facility pins.
func facilityIdentity(cmd *cobra.Command, dir, facility string) error {
	st, err := openLog(dir, facility)
	if err != nil {
		return err
	}
	defer st.Close()
	id, made, err := peer.EnsureIdentity(st)
	if err != nil {
		return &exitError{code: session.ExitUsage, err: err}
	}
	state := "already there"
	if made {
		state = "made now"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "facility %s: TLS identity for the peer link in %s/%s (%s)\n"+
		"give the other facility this line for the peer block of its profile:\n  key: %q\n",
		facility, dir, runlog.FacilityCertFile, state, id.Key.Pin())
	return nil
}
