package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/telesurgery-preflight/preflight/checks"
)

// TestReadmeProfileReference keeps the README's profile reference in step with the registry: every
// probe kind has a section naming each of its parameters, and no section names a kind that does not exist.
func TestReadmeProfileReference(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	ref, ok := strings.CutPrefix(readme[strings.Index(readme, "## Profile reference"):], "## Profile reference")
	if !ok {
		t.Fatal("README has no '## Profile reference'")
	}
	ref, _, _ = strings.Cut(ref, "\n## ")
	sections := map[string]string{}
	for _, part := range strings.Split(ref, "\n### ")[1:] {
		m := regexp.MustCompile("^`([a-z_]+)`").FindStringSubmatch(part)
		if m == nil {
			t.Errorf("reference heading %q is not a `kind`", strings.SplitN(part, "\n", 2)[0])
			continue
		}
		sections[m[1]] = part
	}
	for kind, p := range checks.Probers {
		sec, ok := sections[kind]
		if !ok {
			t.Errorf("README lacks a section for probe kind %q", kind)
			continue
		}
		typ := reflect.TypeOf(p.New()).Elem()
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" && !strings.Contains(sec, "`"+name+"`") {
				t.Errorf("README section of %q does not document parameter %q", kind, name)
			}
		}
	}
	for kind := range sections {
		if _, ok := checks.Probers[kind]; !ok {
			t.Errorf("README documents kind %q, which the registry does not have", kind)
		}
	}
}

// TestReadmeTestCommandIsCI checks that CI runs the README's test command.
func TestReadmeTestCommandIsCI(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "\nscripts/test.sh ") || !strings.Contains(string(ci), "exec scripts/test.sh") {
		t.Fatal("the README's test command and .ci/run disagree")
	}
}
