package runlog

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// SaveJSON writes the record to dir/runs/<run-id>/record.json durably: temp file, fsync, rename, fsync
// of the directory. It returns the path written. It is an export, not the run log: a record saved this way
// is not sealed, journaled or in any facility log — Store.Seal is how a run is kept.
func SaveJSON(dir string, r *Record) (string, error) {
	runDir := filepath.Join(dir, "runs", r.RunID)
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode record: %w", err)
	}
	path := filepath.Join(runDir, "record.json")
	if err := writeDurably(path, append(data, '\n')); err != nil {
		return "", err
	}
	return path, nil
}

func writeDurably(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := fsync(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
