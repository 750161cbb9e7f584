package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// BuiltinNames lists the embedded profiles ("demo-patient", "demo-surgeon", "template-hospital").
func BuiltinNames() []string {
	entries, _ := fs.ReadDir(builtinFS, "builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// BuiltinBytes returns the exact bytes of an embedded profile.
func BuiltinBytes(name string) ([]byte, error) {
	b, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in profile %q (built-in: %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return b, nil
}

// Builtin parses an embedded profile; dir anchors its relative paths (the demo's CA file).
func Builtin(name, dir string) (*Profile, error) {
	b, err := BuiltinBytes(name)
	if err != nil {
		return nil, err
	}
	return Parse("builtin:"+name, b, dir)
}
