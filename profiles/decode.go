package profiles

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

var wholeNumber = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// decoder turns a YAML syntax tree into typed structs, strictly: every unknown or duplicate key, wrong
// type, anchor or alias is reported with its position, and decoding goes on so that one run of `validate`
// shows every problem. It never expands aliases, so an alias bomb costs nothing.
type decoder struct {
	file  string
	errs  ErrorList
	nodes map[any]ast.Node // pointer to a decoded struct, map or slice → the node it came from
	bad   map[Pos]bool     // where decoding already reported a problem; validation stays quiet there
}

// nodeDecoder is implemented by profile types that decode themselves (a probe chooses its parameter
// struct by kind; a text accepts a plain string as English).
type nodeDecoder interface {
	decodeNode(d *decoder, n ast.Node, what string)
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
)

func newDecoder(file string) *decoder {
	return &decoder{file: file, nodes: map[any]ast.Node{}, bad: map[Pos]bool{}}
}

// pos is where node starts; for a mapping, where its first key starts.
func (d *decoder) pos(n ast.Node) Pos {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if n == nil || n.GetToken() == nil {
		return Pos{File: d.file}
	}
	p := n.GetToken().Position
	return Pos{File: d.file, Line: p.Line, Col: p.Column}
}

func (d *decoder) errorf(n ast.Node, format string, args ...any) {
	pos := d.pos(n)
	d.bad[pos] = true
	d.errs.Add(pos, format, args...)
}

// decode fills v (addressable) from n. what names the value for messages ("scope", "item").
func (d *decoder) decode(n ast.Node, v reflect.Value, what string) {
	switch n.(type) {
	case *ast.AnchorNode, *ast.AliasNode:
		d.errorf(n, "anchors and aliases (&name, *name) are not allowed in profiles: write %s out in full", what)
		return
	case *ast.TagNode:
		d.errorf(n, "YAML tags (!tag) are not allowed in profiles: remove the tag from %s", what)
		return
	}
	if isNull(n) {
		return
	}
	if v.Kind() == reflect.Pointer && v.Type().Implements(nodeDecoderType) {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v.Interface().(nodeDecoder).decodeNode(d, n, what)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, what)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		s, ok := d.scalar(n, what, "a string")
		if ok {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				d.errorf(n, "%s: %v", what, err)
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), what)
	case reflect.Struct:
		d.decodeStruct(n, v, what, nil)
	case reflect.Map:
		d.decodeMap(n, v, what)
	case reflect.Slice:
		d.decodeSlice(n, v, what)
	case reflect.String:
		if s, ok := d.scalar(n, what, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.wrongType(n, what, "true or false")
			return
		}
		v.SetBool(b.Value)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, ok := n.(*ast.IntegerNode)
		if !ok {
			if s, isStr := n.(*ast.StringNode); isStr && s.GetToken().Type == token.StringType && wholeNumber.MatchString(s.Value) {
				// The parser leaves a plain number beyond 64 bits as text; say what is really wrong.
				d.errorf(n, "%s: %s is too large", what, s.Value)
				return
			}
			d.wrongType(n, what, "a whole number")
			return
		}
		var x int64
		fits := false
		switch iv := i.Value.(type) {
		case int64:
			x, fits = iv, true
		case uint64:
			x, fits = int64(iv), iv <= math.MaxInt64
		}
		if !fits || v.OverflowInt(x) {
			d.errorf(n, "%s: %s is too large", what, i.GetToken().Value)
			return
		}
		v.SetInt(x)
	case reflect.Float64:
		switch f := n.(type) {
		case *ast.FloatNode:
			v.SetFloat(f.Value)
		case *ast.IntegerNode:
			x, _ := strconv.ParseFloat(f.GetToken().Value, 64)
			v.SetFloat(x)
		default:
			d.wrongType(n, what, "a number")
		}
	default:
		panic(fmt.Sprintf("profiles: cannot decode into %s", v.Type())) // a bug in the profile types
	}
}

func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	switch n.(type) {
	case *ast.NullNode, *ast.CommentNode, *ast.CommentGroupNode:
		return true
	}
	return false
}

// scalar returns the text of a scalar node; numbers and booleans are taken as written, so
// `min_version: 7.2` reads as the string "7.2".
func (d *decoder) scalar(n ast.Node, what, want string) (string, bool) {
	switch s := n.(type) {
	case *ast.StringNode:
		return s.Value, true
	case *ast.LiteralNode:
		return s.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	d.wrongType(n, what, want)
	return "", false
}

func (d *decoder) wrongType(n ast.Node, what, want string) {
	d.errorf(n, "%s: wrong type: want %s, found %s", what, want, describe(n))
}

func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping (key: value lines)"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return fmt.Sprintf("the text %q", n.GetToken().Value)
	case *ast.IntegerNode, *ast.FloatNode:
		return "the number " + n.GetToken().Value
	case *ast.BoolNode:
		return "the boolean " + n.GetToken().Value
	}
	return strings.ToLower(n.Type().String())
}

// entries returns the key/value pairs of a mapping node, reporting duplicate and non-string keys.
func (d *decoder) entries(n ast.Node, what string) ([]*ast.MappingValueNode, bool) {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		d.wrongType(n, what, "a mapping (key: value)")
		return nil, false
	}
	seen := map[string]*ast.MappingValueNode{}
	out := make([]*ast.MappingValueNode, 0, len(values))
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			d.errorf(mv.Key, "merge keys (<<) are not allowed in profiles: write %s out in full", what)
			continue
		}
		key := keyText(mv.Key)
		if first, dup := seen[key]; dup {
			d.errorf(mv.Key, "duplicate key %q in %s (first at line %d): keep one", key, what,
				first.Key.GetToken().Position.Line)
			continue
		}
		seen[key] = mv
		out = append(out, mv)
	}
	return out, true
}

func keyText(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	return k.GetToken().Value
}

// decodeStruct fills the struct v from a mapping; keys listed in skip are left to the caller.
func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, what string, skip []string) {
	values, ok := d.entries(n, what)
	if !ok {
		return
	}
	d.nodes[v.Addr().Interface()] = n
	fields := yamlFields(v.Type())
	for _, mv := range values {
		key := keyText(mv.Key)
		if slices.Contains(skip, key) {
			continue
		}
		idx, ok := fields[key]
		if !ok {
			d.errorf(mv.Key, "unknown key %q in %s%s", key, what, suggest(key, fields))
			continue
		}
		d.decode(mv.Value, v.Field(idx), key)
	}
}

func (d *decoder) decodeMap(n ast.Node, v reflect.Value, what string) {
	values, ok := d.entries(n, what)
	if !ok {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(values)))
	}
	d.nodes[v.Addr().Interface()] = n
	for _, mv := range values {
		key := keyText(mv.Key)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(mv.Value, elem, fmt.Sprintf("%s %q", what, key))
		v.SetMapIndex(reflect.ValueOf(key), elem)
	}
}

func (d *decoder) decodeSlice(n ast.Node, v reflect.Value, what string) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.wrongType(n, what, "a list")
		return
	}
	v.Set(reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values)))
	d.nodes[v.Addr().Interface()] = n
	for i, el := range seq.Values {
		d.decode(el, v.Index(i), fmt.Sprintf("%s[%d]", what, i))
	}
}

// yamlFields maps yaml tag names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = i
	}
	return m
}

// suggest proposes the closest known key for a misspelt one.
func suggest(key string, fields map[string]int) string {
	best, bestD := "", 3
	for f := range fields {
		if dist := editDistance(key, f); dist < bestD || (dist == bestD && f < best) {
			best, bestD = f, dist
		}
	}
	if best != "" && bestD <= max(1, len(key)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	slices.Sort(names)
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// at returns the position of field (a path such as "queries[1].type") inside the node that ptr was
// decoded from, falling back to the closest enclosing node that exists.
func (d *decoder) at(ptr any, field string) Pos {
	n, ok := d.nodes[ptr]
	if !ok {
		return Pos{File: d.file}
	}
	return d.pos(lookup(n, field))
}

// lookup walks a path of keys and [index] steps from n, stopping at the deepest node that exists.
func lookup(n ast.Node, path string) ast.Node {
	for path != "" {
		var step string
		step, path, _ = strings.Cut(path, ".")
		key, rest, _ := strings.Cut(step, "[")
		if key != "" {
			next := valueOf(n, key)
			if next == nil {
				return n
			}
			n = next
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			rest = strings.TrimPrefix(after, "[")
			i, err := strconv.Atoi(num)
			seq, ok := n.(*ast.SequenceNode)
			if err != nil || !ok || i < 0 || i >= len(seq.Values) {
				return n
			}
			n = seq.Values[i]
		}
	}
	return n
}

// atKey returns the position of key itself in the mapping that ptr was decoded from, for problems with
// a key or a whole entry (a badly named target, an item's manual part that should not be there), falling
// back to the mapping.
func (d *decoder) atKey(ptr any, key string) Pos {
	n, ok := d.nodes[ptr]
	if !ok {
		return Pos{File: d.file}
	}
	if mv := entry(n, key); mv != nil {
		return d.pos(mv.Key)
	}
	return d.pos(n)
}

// entry returns the key/value pair for key in a mapping, or nil.
func entry(n ast.Node, key string) *ast.MappingValueNode {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	}
	for _, mv := range values {
		if keyText(mv.Key) == key {
			return mv
		}
	}
	return nil
}

// valueOf returns the value node for key in a mapping, or the key node itself when its value is empty.
func valueOf(n ast.Node, key string) ast.Node {
	mv := entry(n, key)
	switch {
	case mv == nil:
		return nil
	case isNull(mv.Value):
		return mv.Key
	}
	return mv.Value
}

// valueOfPtr returns the addressable value a pointer points to.
func valueOfPtr(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
