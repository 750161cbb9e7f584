package profiles_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/telesurgery-preflight/preflight/profiles"
)

// checkErrors asserts that err is an ErrorList of exactly len(want) problems, the i-th printing as
// path:want[i] — the position exactly ("LINE:COL"), then a message containing the rest — and returns it.
func checkErrors(t *testing.T, path string, err error, want []string) profiles.ErrorList {
	t.Helper()
	var list profiles.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want profiles.ErrorList: %v", err, err)
	}
	if len(list) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if i >= len(list) {
			t.Errorf("missing error %d: %s:%s", i+1, path, w)
			continue
		}
		pos, msg, _ := strings.Cut(w, ": ")
		got := list[i].Error()
		prefix := path + ":" + pos + ": "
		if !strings.HasPrefix(got, prefix) || !strings.Contains(strings.TrimPrefix(got, prefix), msg) {
			t.Errorf("error %d:\n got  %s\n want %s%s…", i+1, got, prefix, msg)
		}
	}
	return list
}

// aliasBomb returns a "billion laughs" document of the given depth: each level is a list of nine aliases
// to the level below.
func aliasBomb(levels int) []byte {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		ref := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.Repeat(ref+", ", 8)+ref)
	}
	return []byte(b.String())
}
