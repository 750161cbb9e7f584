package runlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Files of a run directory.
const (
	JournalFile = "events.jsonl"
	TornFile    = "events.jsonl.torn"
	ProfileFile = "profile.yaml"
	RecordFile  = "record.json"
	RunCkptFile = "checkpoint"
)

// journalLine is one line of events.jsonl. seq comes first and prev last, so verify can read both
// without decoding the line; prev is the hex SHA-256 of the exact bytes of the previous line, its
// newline included ("" on the first line).
type journalLine struct {
	Seq   int64           `json:"seq"`
	TS    string          `json:"ts"` // UTC, RFC 3339 with nanoseconds
	Type  string          `json:"type"`
	Actor string          `json:"actor"`
	Item  string          `json:"item,omitempty"`
	Data  json.RawMessage `json:"data"`
	Prev  string          `json:"prev"`
}

// crashPoint, when set (tests only), is called at every write point so a test can kill the process there.
var crashPoint func(point string)

func reach(point string) {
	if crashPoint != nil {
		crashPoint(point)
	}
}

// Journal appends a run's events to its events.jsonl, one fsynced line each. Session.OnEvent takes its
// Event method. After a write fails, the journal refuses further events and Err reports the failure;
// the seal still records what reached the disk.
type Journal struct {
	mu     sync.Mutex
	runID  string
	path   string
	f      *os.File
	seq    int64
	prev   string
	err    error
	sealed bool
}

// createJournal creates events.jsonl in runDir (which must not have one) and makes the new name durable.
func createJournal(runDir, runID string) (*Journal, error) {
	path := filepath.Join(runDir, JournalFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	if err := syncDir(runDir); err != nil {
		f.Close()
		return nil, fmt.Errorf("create journal: %w", err)
	}
	reach("journal-created")
	return &Journal{runID: runID, path: path, f: f}, nil
}

// Append writes one event as a line and fsyncs it.
func (j *Journal) Append(e Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.sealed:
		return fmt.Errorf("run %s is sealed: no more events can be added", j.runID)
	case j.err != nil:
		return j.err
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		j.err = fmt.Errorf("journal of run %s: encode %s event: %w", j.runID, e.Type, err)
		return j.err
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	ln := journalLine{Seq: j.seq + 1, TS: at.UTC().Format(time.RFC3339Nano), Type: e.Type, Actor: e.Actor,
		Item: e.Item, Data: data, Prev: j.prev}
	b, err := marshalLine(ln)
	if err != nil {
		j.err = fmt.Errorf("journal of run %s: %w", j.runID, err)
		return j.err
	}
	if err := j.write(b); err != nil {
		j.err = fmt.Errorf("journal of run %s: write event %d (%s): %w", j.runID, ln.Seq, e.Type, err)
		return j.err
	}
	j.seq, j.prev = ln.Seq, lineHash(b)
	reach("event")
	return nil
}

func (j *Journal) write(b []byte) error {
	if crashPoint != nil { // tests: a line cut short by a crash
		half := len(b) / 2
		if _, err := j.f.Write(b[:half]); err != nil {
			return err
		}
		reach("event-torn")
		b = b[half:]
	}
	if _, err := j.f.Write(b); err != nil {
		return err
	}
	return fsync(j.f)
}

// Event appends e, keeping the first error for Err; its signature fits Session.OnEvent.
func (j *Journal) Event(e Event) { _ = j.Append(e) }

// Err reports the first write failure, if any.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// close ends the journal for sealing.
func (j *Journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sealed = true
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

func marshalLine(ln journalLine) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ln); err != nil {
		return nil, err
	}
	return b.Bytes(), nil // Encode ends it with the newline
}

func lineHash(line []byte) string {
	s := sha256.Sum256(line)
	return hex.EncodeToString(s[:])
}

// Entry is one decoded journal line.
type Entry struct {
	Seq   int64
	At    time.Time
	Type  string
	Actor string
	Item  string
	Data  json.RawMessage
}

// JournalScan is what reading an events.jsonl found: the complete lines, the hash of the last, any torn
// tail (bytes after the last newline, which only a crash leaves), and every break in the chain.
type JournalScan struct {
	Lines      int
	Head       string
	Entries    []Entry // decoded lines, when asked for
	Torn       []byte
	TornOffset int64
	Breaks     []string // "line 7: …", one per line that does not follow its predecessor
}

var (
	seqPrefix  = []byte(`{"seq":`)
	prevSuffix = []byte(`,"prev":"`)
)

// scanJournal checks the hash chain of a journal. It reads seq and prev by position, so verifying needs
// no JSON decoding; with decode set it also decodes every line (for show and recovery).
func scanJournal(data []byte, decode bool) *JournalScan {
	s := &JournalScan{}
	var off int64
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.Torn, s.TornOffset = data, off
			break
		}
		line := data[:i+1]
		data = data[i+1:]
		n := s.Lines + 1
		seq, prev, ok := linePosition(line)
		switch {
		case !ok:
			s.Breaks = append(s.Breaks, fmt.Sprintf("line %d is not a journal line (expected {\"seq\":…,\"prev\":\"…\"})", n))
		case seq != int64(n):
			s.Breaks = append(s.Breaks, fmt.Sprintf("line %d has seq %d: a line was removed, inserted, duplicated or reordered before it", n, seq))
		case prev != s.Head:
			s.Breaks = append(s.Breaks, fmt.Sprintf("line %d does not follow line %d (its prev is %s, line %d hashes to %s): line %d was altered, or lines were removed, inserted or reordered",
				n, n-1, short(prev), n-1, short(s.Head), n-1))
		}
		if decode {
			if e, err := decodeLine(line); err != nil {
				s.Breaks = append(s.Breaks, fmt.Sprintf("line %d: %v", n, err))
			} else {
				s.Entries = append(s.Entries, e)
			}
		}
		s.Lines, s.Head = n, lineHash(line)
		off += int64(len(line))
	}
	return s
}

func linePosition(line []byte) (int64, string, bool) {
	if !bytes.HasPrefix(line, seqPrefix) || !bytes.HasSuffix(line, []byte("\"}\n")) {
		return 0, "", false
	}
	rest := line[len(seqPrefix):]
	comma := bytes.IndexByte(rest, ',')
	if comma < 0 {
		return 0, "", false
	}
	seq, err := strconv.ParseInt(string(rest[:comma]), 10, 64)
	p := bytes.LastIndex(line, prevSuffix)
	if err != nil || p < 0 || p+len(prevSuffix) > len(line)-3 {
		return 0, "", false
	}
	return seq, string(line[p+len(prevSuffix) : len(line)-3]), true
}

func decodeLine(line []byte) (Entry, error) {
	var ln journalLine
	if err := json.Unmarshal(line, &ln); err != nil {
		return Entry{}, fmt.Errorf("not valid JSON: %v", err)
	}
	at, err := time.Parse(time.RFC3339Nano, ln.TS)
	if err != nil {
		return Entry{}, fmt.Errorf("bad ts %q", ln.TS)
	}
	return Entry{Seq: ln.Seq, At: at, Type: ln.Type, Actor: ln.Actor, Item: ln.Item, Data: ln.Data}, nil
}

// readJournal reads and scans runDir's journal.
func readJournal(runDir string, decode bool) (*JournalScan, error) {
	data, err := readFileLimited(filepath.Join(runDir, JournalFile), maxJournal)
	if err != nil {
		return nil, err
	}
	return scanJournal(data, decode), nil
}

// Size limits on what the store reads, so a hostile or corrupt file cannot exhaust memory.
const (
	maxJournal = 256 << 20
	maxRecord  = 64 << 20
	maxSmall   = 1 << 20
)

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d this store ever writes", path, st.Size(), limit)
	}
	// One read of the size stat gave, plus one to see the end: a file growing meanwhile is read to its
	// end, up to the limit.
	data := make([]byte, st.Size()+1)
	n, err := io.ReadFull(f, data)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return data[:n], nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(io.LimitReader(f, limit-int64(n)+1))
	data = append(data[:n], rest...)
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s: larger than the %d bytes this store ever writes", path, limit)
	}
	return data, err
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return `""`
	}
	return h
}
