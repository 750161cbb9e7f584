package profiles_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/telesurgery-preflight/preflight/profiles"
)

// FuzzLoadProfile feeds arbitrary bytes to Parse, seeded with every fixture and built-in profile. Parse must
// never panic, and must return either a profile or a non-empty, sorted list of problems in the named file.
func FuzzLoadProfile(f *testing.F) {
	err := filepath.WalkDir(filepath.Join("..", "testdata", "profiles"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(data)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range profiles.BuiltinNames() {
		data, err := profiles.BuiltinBytes(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(aliasBomb(10))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := profiles.Parse("fuzz.yaml", data, dir)
		switch {
		case err == nil && p == nil:
			t.Fatal("Parse returned neither a profile nor an error")
		case err != nil && p != nil:
			t.Fatalf("Parse returned a profile and an error: %v", err)
		case err == nil:
			return
		}
		var list profiles.ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("Parse error is %T, want profiles.ErrorList: %v", err, err)
		}
		if len(list) == 0 {
			t.Fatal("Parse returned an empty ErrorList")
		}
		for _, e := range list {
			if e.Pos.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("error without file or message: %#v", e)
			}
		}
		if !slices.IsSortedFunc(list, func(a, b *profiles.Error) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		}) {
			t.Fatalf("errors not sorted:\n%v", list)
		}
	})
}
