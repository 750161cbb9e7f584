package runlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A facility log directory (LOGDIR):
//
//	.lock             flock'ed by the one writer; holds its pid (not evidence: verify ignores it)
//	facility.key      the facility's checkpoint- and roster-signing key (note signer key, mode 0600)
//	roster            trusted signers, a note signed by the facility key (roster.go)
//	checkpoint        the latest signed checkpoint of the log (checkpoint.go)
//	index.jsonl       the log's leaves in order (index.go)
//	runs/RUN-ID/      events.jsonl, profile.yaml, record.json, checkpoint [, events.jsonl.torn]
const (
	LockFile        = ".lock"
	FacilityKeyFile = "facility.key"
	RosterFile      = "roster"
	CheckpointFile  = "checkpoint"
	RunsDir         = "runs"
)

// ErrLocked says another process is writing to the log directory.
var ErrLocked = errors.New("log directory in use")

// Store is the writer of one facility log. Only one Store may be open on a directory at a time, across
// processes: Open takes an exclusive lock that Close releases.
type Store struct {
	Dir      string
	Facility string
	// Notes says what Open found and completed from an earlier writer that stopped early: runs sealed as
	// interrupted from their journals, torn lines quarantined, checkpoints signed. Show them to the user.
	Notes []string
	Now   func() time.Time

	// mu serialises the writes of one process: the TUI seals from a command while the peer link records
	// a joint verdict or a witnessed checkpoint from another.
	mu       sync.Mutex
	lock     *os.File
	fkey     note.Signer
	fvkey    string
	fk       *FacilityKey
	roster   *Roster
	tree     Tree
	index    []IndexEntry
	active   map[string]*Journal
	broken   error
	random   io.Reader
	recovery bool
}

// Open opens (creating it if needed) the log directory dir of facility facilityID for writing, and
// completes whatever an earlier writer left unfinished. A second writer gets ErrLocked.
func Open(dir, facilityID string) (*Store, error) {
	return open(dir, facilityID, rand.Reader, time.Now)
}

func open(dir, facilityID string, random io.Reader, now func() time.Time) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, RunsDir), 0o700); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	s := &Store{Dir: dir, Facility: facilityID, Now: now, active: map[string]*Journal{}, random: random}
	if err := s.takeLock(); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) takeLock() error {
	f, err := os.OpenFile(filepath.Join(s.Dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	busy, err := flock(f, true)
	for try := 0; busy && err == nil && try < 5; try++ { // a reader checking for a writer holds it for an instant
		time.Sleep(100 * time.Millisecond)
		busy, err = flock(f, true)
	}
	if err != nil || busy {
		holder, _ := io.ReadAll(io.LimitReader(f, 200))
		f.Close()
		if err != nil {
			return fmt.Errorf("lock %s: %w", s.Dir, err)
		}
		return fmt.Errorf("%w: %s is being written by another preflight (%s): one writer per facility log — wait for that run to end, or use another --log-dir",
			ErrLocked, s.Dir, strings.TrimSpace(strings.ReplaceAll(string(holder), "\n", ", ")))
	}
	_ = f.Truncate(0)
	fmt.Fprintf(f, "pid %d\nsince %s\n", os.Getpid(), s.Now().UTC().Format(time.RFC3339))
	s.lock = f
	return nil
}

// Close releases the lock. Runs begun and not sealed stay as they are; the next writer seals them as
// interrupted.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.active {
		_ = j.close()
	}
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing the descriptor releases the flock
	s.lock = nil
	return err
}

// load reads the facility key, roster and index, creating them in a new directory.
func (s *Store) load() error {
	keyPath := filepath.Join(s.Dir, FacilityKeyFile)
	skey, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		if fileExists(filepath.Join(s.Dir, IndexFile)) || fileExists(filepath.Join(s.Dir, RosterFile)) {
			return fmt.Errorf("%s has a log but no %s: the log is damaged — run preflight log verify, and keep new runs in another --log-dir", s.Dir, FacilityKeyFile)
		}
		return s.create()
	}
	if err != nil {
		return fmt.Errorf("read facility key: %w", err)
	}
	if s.fkey, s.fvkey, err = facilityKey(string(skey)); err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	s.fk, _ = newFacilityKey(string(skey)) // parses: facilityKey just did
	if s.fkey.Name() != Origin(s.Facility) {
		return fmt.Errorf("%s is the log of %s, not of facility %s: use one --log-dir per facility", s.Dir, strings.TrimPrefix(s.fkey.Name(), "preflight/"), s.Facility)
	}
	msg, err := readFileLimited(filepath.Join(s.Dir, RosterFile), maxSmall)
	if err != nil {
		return fmt.Errorf("read roster: %w", err)
	}
	if s.roster, err = parseRoster(msg, s.fvkey); err != nil {
		return fmt.Errorf("%s: %w — run preflight log verify", filepath.Join(s.Dir, RosterFile), err)
	}
	entries, _, torn, validLen, err := readIndex(s.Dir)
	if err != nil {
		return fmt.Errorf("read log index: %w — run preflight log verify", err)
	}
	if len(torn) > 0 { // a crash while appending: the record it describes is re-indexed below
		if err := truncateDurably(filepath.Join(s.Dir, IndexFile), validLen); err != nil {
			return err
		}
		s.Notes = append(s.Notes, fmt.Sprintf("%s: removed a torn last line (%d bytes) left by a crash while sealing; its run is re-indexed from its record", IndexFile, len(torn)))
	}
	for _, e := range entries {
		h, err := decodeLeafHash(e.LeafHash)
		if err != nil {
			return fmt.Errorf("%s leaf %d: %w", IndexFile, e.Leaf, err)
		}
		if err := s.tree.add(h); err != nil {
			return err
		}
	}
	s.index = entries
	return nil
}

// create initialises a new log: facility key, roster, empty index and a checkpoint of the empty tree.
func (s *Store) create() error {
	skey, vkey, err := note.GenerateKey(s.random, Origin(s.Facility))
	if err != nil {
		return fmt.Errorf("generate facility key: %w", err)
	}
	if s.fkey, s.fvkey, err = facilityKey(skey + "\n"); err != nil {
		return err
	}
	s.fk, _ = newFacilityKey(skey + "\n")
	if vkey != s.fvkey {
		return fmt.Errorf("facility key: derived verifier key differs from the generated one")
	}
	if err := writeExclusive(filepath.Join(s.Dir, FacilityKeyFile), []byte(skey+"\n"), 0o600); err != nil {
		return fmt.Errorf("write facility key: %w", err)
	}
	s.roster = &Roster{Facility: vkey}
	if err := s.writeRoster(); err != nil {
		return err
	}
	if err := writeDurably(filepath.Join(s.Dir, IndexFile), nil); err != nil {
		return err
	}
	return s.writeCheckpoint(filepath.Join(s.Dir, CheckpointFile), 0)
}

// facilityKey parses a note signer key and derives its verifier key.
func facilityKey(skey string) (note.Signer, string, error) {
	skey, ok := strings.CutSuffix(skey, "\n") // exactly as written: one line
	if !ok || strings.ContainsFunc(skey, unicode.IsSpace) {
		return nil, "", errors.New("not a facility key: expected one line PRIVATE+KEY+…")
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("not a facility key: %v", err)
	}
	parts := strings.SplitN(skey, "+", 5) // PRIVATE, KEY, name, hash, base64 data (which may hold '+')
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, "", errors.New("not an Ed25519 facility key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	return signer, vkey, err
}

// FacilityVerifier is the facility's verifier key: what a peer pins to check this log's checkpoints.
func (s *Store) FacilityVerifier() string { return s.fvkey }

func (s *Store) writeRoster() error {
	msg, err := s.roster.sign(s.fkey)
	if err != nil {
		return err
	}
	return writeDurably(filepath.Join(s.Dir, RosterFile), msg)
}

// AddSigner adds a person's public key to the facility roster and re-signs it.
func (s *Store) AddSigner(sg Signer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := note.NewVerifier(sg.Key); err != nil {
		return fmt.Errorf("public key: %v", err)
	}
	for _, have := range s.roster.Signers {
		if keyID(have.Key) == keyID(sg.Key) {
			return fmt.Errorf("key %s is already in the roster (%s)", keyID(sg.Key), have.Name)
		}
	}
	s.roster.Signers = append(s.roster.Signers, sg)
	return s.writeRoster()
}

func (s *Store) writeCheckpoint(path string, size int64) error {
	root, err := s.tree.root(size)
	if err != nil {
		return err
	}
	msg, err := Checkpoint{Origin: s.fkey.Name(), Size: size, Root: root}.sign(s.fkey)
	if err != nil {
		return err
	}
	return writeDurably(path, msg)
}

func (s *Store) runDir(id string) string { return filepath.Join(s.Dir, RunsDir, id) }

// Begin starts the journal of a run: runs/ID/ with the exact profile bytes and the first journal line.
// Subscribe the returned journal's Event method to the session's OnEvent.
func (s *Store) Begin(r *Record, profile []byte) (*Journal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil, errors.New("the store is closed")
	}
	if sum := sha256.Sum256(profile); hex.EncodeToString(sum[:]) != r.Profile.SHA256 {
		return nil, fmt.Errorf("run %s: the profile bytes do not hash to the record's profile sha256", r.RunID)
	}
	if r.Facility.ID != s.Facility {
		return nil, fmt.Errorf("run %s is of facility %s, and %s is the log of %s: use one --log-dir per facility", r.RunID, r.Facility.ID, s.Dir, s.Facility)
	}
	if !validRunID(r.RunID) {
		return nil, fmt.Errorf("run id %q: use NewRunID", r.RunID)
	}
	dir := s.runDir(r.RunID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	reach("run-dir")
	if err := writeDurably(filepath.Join(dir, ProfileFile), profile); err != nil {
		return nil, fmt.Errorf("keep profile: %w", err)
	}
	reach("profile")
	j, err := createJournal(dir, r.RunID)
	if err != nil {
		return nil, err
	}
	if err := j.Append(Event{Type: EvRunStarted, Actor: osUser(), Data: r, At: r.StartedAt}); err != nil {
		return nil, err
	}
	s.active[r.RunID] = j
	return j, nil
}

// validRunID accepts the ids NewRunID makes (and nothing that could name a path elsewhere).
func validRunID(id string) bool {
	if id == "" || len(id) > 80 || id[0] == '.' {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_')
	})
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// Seal finishes a run begun with Begin: it closes the journal, writes the sealed record (signed with key
// when the record has a sign-off and key is not nil), adds it to the facility log and signs a new
// checkpoint. It returns where the record is and its sha256.
func (s *Store) Seal(r *Record, key *Key) (where, hash string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.active[r.RunID]
	if j == nil {
		return "", "", fmt.Errorf("run %s was not begun in this store (or is sealed already)", r.RunID)
	}
	if r.FinishedAt.IsZero() {
		r.Finish(s.Now())
	}
	if r.Signoff != nil { // refused before the journal closes, so the caller can correct it and seal again
		if err := prepareSignoff(r, key); err != nil {
			return "", "", err
		}
	}
	jerr := j.Err()
	if err := j.close(); err != nil && jerr == nil {
		jerr = err
	}
	delete(s.active, r.RunID)
	where, err = s.seal(r, key)
	if err != nil {
		return "", "", err
	}
	if jerr != nil {
		return where, r.SHA256, fmt.Errorf("run %s sealed, but its journal lost events after a write failed: %w", r.RunID, jerr)
	}
	return where, r.SHA256, nil
}

// SealFunc returns Seal bound to key (nil: seal without a signature), in the shape the TUI calls on
// sign-off and on interruption.
func (s *Store) SealFunc(key *Key) func(*Record) (where, hash string, err error) {
	return func(r *Record) (string, string, error) { return s.Seal(r, key) }
}

func decodeLeafHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		return h, fmt.Errorf("bad leaf hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// FacilityOf names the facility whose log dir is, from its facility key.
func FacilityOf(dir string) (string, error) {
	skey, err := os.ReadFile(filepath.Join(dir, FacilityKeyFile))
	if err != nil {
		return "", fmt.Errorf("%s is not a facility log yet (%v): run preflight run or demo with --log-dir %s first", dir, err, dir)
	}
	s, _, err := facilityKey(string(skey))
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, FacilityKeyFile), err)
	}
	return strings.TrimPrefix(s.Name(), "preflight/"), nil
}
