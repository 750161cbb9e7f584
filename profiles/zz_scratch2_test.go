package profiles

import (
	"fmt"
	"testing"

	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/ast"
)

func TestZZScratch2(t *testing.T) {
	for _, s := range []string{"a: 99999999999999999999", "a: 18446744073709551615", "a: 0x1F", "a: -99999999999999999999", "a: 1_000"} {
		f, err := parser.ParseBytes([]byte(s), 0)
		if err != nil { fmt.Println(err); continue }
		mv := f.Docs[0].Body.(*ast.MappingNode).Values[0]
		fmt.Printf("%s: %T %v tok=%v\n", s, mv.Value, mv.Value, mv.Value.GetToken().Type)
		if i, ok := mv.Value.(*ast.IntegerNode); ok { fmt.Printf("  %T %v\n", i.Value, i.Value) }
	}
	f, _ := parser.ParseBytes([]byte("a: 1\n---\nb: 2\n"), 0)
	for _, d := range f.Docs { fmt.Println(d.Start, d.Body != nil) }
}
