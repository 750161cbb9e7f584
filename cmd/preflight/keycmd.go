package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// passphraseEnv holds a key's passphrase for automation; without it the passphrase is asked on the terminal.
const passphraseEnv = "PREFLIGHT_PASSPHRASE"

func keygenCmd() *cobra.Command {
	var name, role, id, out, logDir, facility string
	c := &cobra.Command{
		Use:   "keygen --name NAME --role ROLE --out DIR",
		Short: "Make a personal Ed25519 signing key; and the facility's TLS identity for the peer link",
		Long: `Write DIR/USERID.key (the private key, encrypted with your passphrase: scrypt and XChaCha20-Poly1305)
and DIR/USERID.pub (your public key with name and role, for the facility roster). The passphrase is asked
twice on the terminal, or taken from $PREFLIGHT_PASSPHRASE. With --log-dir the public key is added to that
facility log's roster at once; otherwise give USERID.pub to whoever keeps the log (preflight log trust).
With --log-dir, keygen also gives the facility its TLS identity for the peer link: a self-signed Ed25519
certificate (LOGDIR/facility.crt) for the facility key that signs the log, and prints the key: line the
other facility pins in its profile's peer block. --log-dir and --facility alone make only that.`,
		Example: "  preflight keygen --name \"Hanako Sato\" --role \"Network engineer\" --out ~/.config/preflight\n" +
			"  preflight keygen --name \"Hanako Sato\" --role \"Network engineer\" --out keys --log-dir /var/lib/preflight/patient-site --facility patient-site\n" +
			"  preflight keygen --log-dir /var/lib/preflight/patient-site --facility patient-site",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" && role == "" && out == "" && logDir != "" {
				return facilityIdentity(cmd, logDir, facility)
			}
			if name == "" || role == "" || out == "" {
				return usageErr("keygen needs --name, --role and --out (or --log-dir and --facility for the facility's identity only)")
			}
			if id == "" {
				id = runlog.UserIDFor(name)
			}
			pass, err := newPassphrase(cmd)
			if err != nil {
				return err
			}
			file, line, err := runlog.GenerateKey(rand.Reader, name, id, role, pass, time.Now())
			if err != nil {
				return usageErr("%v", err)
			}
			keyPath, pubPath, err := runlog.WriteKeyFiles(out, id, file, line)
			if err != nil {
				return usageErr("%v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private, encrypted) and %s (public)\npublic key: %s\n", keyPath, pubPath, strings.SplitN(line, " ", 2)[0])
			if logDir != "" {
				if err := addSigners(cmd, logDir, facility, []string{pubPath}); err != nil {
					return err
				}
				return facilityIdentity(cmd, logDir, facility)
			}
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "your printed name, as it appears on a sign-off")
	c.Flags().StringVar(&role, "role", "", "your role, e.g. \"Network engineer\"")
	c.Flags().StringVar(&id, "id", "", "your user ID, the key's name in signatures (default from --name: hanako.sato)")
	c.Flags().StringVar(&out, "out", "", "directory for USERID.key and USERID.pub")
	c.Flags().StringVar(&logDir, "log-dir", "", "also add the public key to this facility log's roster")
	c.Flags().StringVar(&facility, "facility", "", "with --log-dir: the facility id, to create the log if it does not exist yet")
	return c
}

// unlockKey opens a signing key with the passphrase from $PREFLIGHT_PASSPHRASE or the terminal.
func unlockKey(cmd *cobra.Command, path string) (*runlog.Key, error) {
	info, err := runlog.ReadKeyInfo(path)
	if err != nil {
		return nil, err
	}
	pass, ok := os.LookupEnv(passphraseEnv)
	if !ok {
		p, err := askPassphrase(cmd, fmt.Sprintf("Passphrase for %s (%s, %s): ", info.UserID, info.Name, info.Role))
		if err != nil {
			return nil, err
		}
		pass = string(p)
	}
	return runlog.LoadKey(path, []byte(pass))
}

func newPassphrase(cmd *cobra.Command) ([]byte, error) {
	if p, ok := os.LookupEnv(passphraseEnv); ok {
		return []byte(p), nil
	}
	p1, err := askPassphrase(cmd, "New passphrase for the key: ")
	if err != nil {
		return nil, err
	}
	p2, err := askPassphrase(cmd, "Repeat the passphrase: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p1, p2) {
		return nil, usageErr("the passphrases differ: nothing was written")
	}
	return p1, nil
}

func askPassphrase(cmd *cobra.Command, prompt string) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, usageErr("no passphrase: set %s, or run on a terminal to be asked", passphraseEnv)
	}
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return nil, usageErr("read passphrase: %v", err)
	}
	return p, nil
}
