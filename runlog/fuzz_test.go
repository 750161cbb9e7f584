package runlog

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzStoreFiles feeds arbitrary bytes to every reader of the store's files: each returns an error or a
// result, and never panics or hangs. Seeded from a real log.
func FuzzStoreFiles(f *testing.F) {
	dir := f.TempDir()
	ids := threeRuns(f, dir)
	for _, p := range []string{RosterFile, CheckpointFile, IndexFile, filepath.Join(RunsDir, ids[0], RecordFile),
		filepath.Join(RunsDir, ids[0], JournalFile), filepath.Join(RunsDir, ids[0], RunCkptFile)} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"seq":1,"prev":"}` + "\n"))
	f.Add([]byte("{\n}\n"))
	roster := &Roster{}
	fvkey := ""
	if s, err := Open(dir, "test-site"); err == nil {
		roster, fvkey = s.roster, s.fvkey
		s.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		scan := scanJournal(data, true)
		_, _ = rebuild(scan.Entries)
		if sum, _, _, err := recordHash(data); err == nil {
			if h, err := readHeader(data); err == nil {
				_ = checkSignoff(h, sum, roster)
			}
		}
		_, _ = parseRoster(data, "")
		_, _ = ParseCheckpoint(data, fvkey)
		_, _ = ParseSignerLine(string(data))
		_, _, _ = facilityKey(string(data))
	})
}
