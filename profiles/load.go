package profiles

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// bom is the UTF-8 byte-order mark some Windows editors write; it is skipped.
var bom = []byte("\uFEFF")

const emptyProfile = "empty profile: start from `preflight template` or a built-in profile"

// MaxSize bounds a profile file; real profiles are a few kilobytes.
const MaxSize = 1 << 20

// maxLines bounds the lines of a profile (the built-in ones have under 200). The YAML parser takes time
// quadratic in the number of keys of one block mapping — 100,000 keys, half a megabyte, take about 20s —
// so a file that is long only to be slow is refused before it is parsed.
const maxLines = 10000

// maxNesting bounds bracket nesting before the YAML parser sees the text, so a hostile file cannot make it
// recurse deeply. Real profiles nest fewer than ten levels.
const maxNesting = 64

// Load reads, decodes and validates a profile file. The error is an ErrorList when the file was read.
func Load(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	defer f.Close()
	data, err := readLimited(f, path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return Parse(path, data, filepath.Dir(abs))
}

func readLimited(f *os.File, path string) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(&limitReader{f: f, n: MaxSize + 1})
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	if n > MaxSize {
		return nil, ErrorList{{Pos: Pos{File: path}, Msg: fmt.Sprintf("file is larger than %d bytes: is this really a profile?", MaxSize)}}
	}
	return buf.Bytes(), nil
}

type limitReader struct {
	f *os.File
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("limit reached")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// Parse decodes and validates profile bytes. name is used in messages; dir anchors relative paths.
func Parse(name string, data []byte, dir string) (*Profile, error) {
	sum := sha256.Sum256(data)
	p := &Profile{Path: name, Raw: data, SHA256: hex.EncodeToString(sum[:]), Dir: dir}
	if err := precheck(name, data); err != nil {
		return nil, err
	}
	file, err := parser.ParseBytes(bytes.TrimPrefix(data, bom), 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, syntaxError(name, err)
	}
	var docs []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	d := newDecoder(name)
	switch {
	case len(docs) == 0:
		return nil, ErrorList{{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: emptyProfile}}
	case len(docs) > 1:
		// Point at the second document, which is where the profile was meant to end.
		pos := d.pos(docs[1].Body)
		if st := docs[1].Start; st != nil {
			pos = Pos{File: name, Line: st.Position.Line, Col: st.Position.Column}
		}
		return nil, ErrorList{{Pos: pos, Msg: "a profile is one YAML document; a second one starts here (---): remove it or move it to its own file"}}
	}
	for _, doc := range file.Docs {
		if doc.Body != nil {
			d.decode(doc.Body, valueOfPtr(p), "profile")
		}
	}
	validate(d, p)
	d.errs.Sort()
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// precheck rejects what the YAML parser should never see: invalid UTF-8, a byte-order mark in the middle,
// NUL bytes, bracket nesting deep enough to make a recursive parser suffer, and more lines than a profile
// ever has.
func precheck(name string, data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return ErrorList{{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: emptyProfile}}
	}
	data = bytes.TrimPrefix(data, bom) // as the parser will, so that columns on line 1 agree
	line, col, depth := 1, 1, 0
	for i := 0; i < len(data); {
		if line > maxLines {
			return ErrorList{{Pos: Pos{File: name, Line: line, Col: col}, Msg: fmt.Sprintf("more than %d lines: is this really a profile?", maxLines)}}
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return ErrorList{{Pos: Pos{File: name, Line: line, Col: col}, Msg: fmt.Sprintf("invalid UTF-8 (byte 0x%02x): save the profile as UTF-8", data[i])}}
		}
		switch r {
		case 0:
			return ErrorList{{Pos: Pos{File: name, Line: line, Col: col}, Msg: "NUL byte: a profile is a text file"}}
		case '\n':
			line, col = line+1, 0
		case '[', '{':
			if depth++; depth > maxNesting {
				return ErrorList{{Pos: Pos{File: name, Line: line, Col: col}, Msg: fmt.Sprintf("nesting deeper than %d levels: a profile never needs this", maxNesting)}}
			}
		case ']', '}':
			depth = max(0, depth-1)
		}
		i += size
		col++
	}
	return nil
}

// Locator finds where a decoded value came from, for messages about values that decoded fine but do not
// fit (an answer for an item the profile lacks).
type Locator struct{ d *decoder }

// At returns the position of field (a path such as "key" or "list[2].name") inside the value ptr points to.
func (l *Locator) At(ptr any, field string) Pos { return l.d.at(ptr, field) }

// DecodeStrict decodes a YAML document into v (a pointer to a struct or map) with the profile rules:
// unknown keys, duplicate keys, wrong types, anchors and aliases are errors with file:line:col, all of
// them reported at once as an ErrorList.
func DecodeStrict(name string, data []byte, v any) (*Locator, error) {
	if err := precheck(name, data); err != nil {
		return nil, err
	}
	file, err := parser.ParseBytes(bytes.TrimPrefix(data, bom), 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, syntaxError(name, err)
	}
	d := newDecoder(name)
	for _, doc := range file.Docs {
		if doc.Body != nil {
			d.decode(doc.Body, valueOfPtr(v), "document")
		}
	}
	d.errs.Sort()
	return &Locator{d: d}, d.errs.Err()
}

func syntaxError(name string, err error) ErrorList {
	var se *yaml.SyntaxError
	if errors.As(err, &se) && se.GetToken() != nil {
		pos := se.GetToken().Position
		return ErrorList{{Pos: Pos{File: name, Line: pos.Line, Col: pos.Column}, Msg: "YAML syntax: " + se.GetMessage()}}
	}
	return ErrorList{{Pos: Pos{File: name}, Msg: "YAML syntax: " + err.Error()}}
}

// Key returns the position of key itself (not its value) in the mapping ptr was decoded from.
func (l *Locator) Key(ptr any, key string) Pos { return l.d.atKey(ptr, key) }
