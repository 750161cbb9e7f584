package checks

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The SSH wire format as far as the ssh probe reads it: the identification exchange (RFC 4253 §4.2) and
// the first, unencrypted binary packet (§6), which is the server's SSH_MSG_KEXINIT (§7.1). Everything
// here reads from a peer the probe does not trust, so every length is checked before it is used and the
// limits below bound what a hostile server can make the probe hold.
const (
	sshMaxIdentLen  = 255      // the identification line, CR LF included (RFC 4253 §4.2)
	sshMaxLineLen   = 1024     // any other line the server may send before it
	sshMaxPreIdent  = 16 << 10 // all bytes before the identification line
	sshMaxPacketLen = 256 << 10
	sshMaxSkipped   = 8  // SSH_MSG_IGNORE/DEBUG packets tolerated before the KEXINIT
	sshMaxPreKept   = 20 // lines before the identification kept for the evidence

	sshMsgDisconnect = 1
	sshMsgIgnore     = 2
	sshMsgDebug      = 4
	sshMsgKexinit    = 20

	sshDisconnectByApplication = 11
)

// sshIdent is the server's identification string, split as RFC 4253 §4.2 defines it.
type sshIdent struct {
	Line     string   // without CR LF
	Proto    string   // protoversion: "2.0", "1.99", "1.5"
	Software string   // softwareversion
	Comments string   // after the first space, if any
	Pre      []string // the first lines the server sent before it, as printable text
	PreLines int      // how many lines it sent before it
}

// kexInit is the content of an SSH_MSG_KEXINIT packet.
type kexInit struct {
	Kex, HostKey           []string
	CiphersC2S, CiphersS2C []string
	MACsC2S, MACsS2C       []string
	CompC2S, CompS2C       []string
	LangC2S, LangS2C       []string
	FirstKexFollows        bool
}

// sshNotSSHError means the peer answered with something that is not an SSH identification: the thing on
// that port is not an SSH server (a decision, not a failure to decide).
type sshNotSSHError struct {
	msg      string
	received []byte // the start of what came back, for the evidence
}

func (e *sshNotSSHError) Error() string { return "not an SSH server: " + e.msg }

// sshWireError means an SSH peer sent a binary packet the probe cannot read.
type sshWireError struct{ msg string }

func (e *sshWireError) Error() string { return e.msg }

// sshDisconnectError is an SSH_MSG_DISCONNECT the server sent instead of its KEXINIT.
type sshDisconnectError struct {
	code uint32
	desc string
}

func (e *sshDisconnectError) Error() string {
	return fmt.Sprintf("the server disconnected before key exchange (reason %d: %q)", e.code, e.desc)
}

func wireErrorf(format string, args ...any) error { return &sshWireError{fmt.Sprintf(format, args...)} }

// readServerHello reads the server's identification and its KEXINIT from r. The identification is
// returned whenever it was read, so the caller can judge it even when the packet that follows is bad.
func readServerHello(r io.Reader) (sshIdent, *kexInit, error) {
	br := bufio.NewReaderSize(r, 4096)
	id, err := readIdent(br)
	if err != nil {
		return id, nil, err
	}
	if !strings.HasPrefix(id.Proto, "2.") && id.Proto != "1.99" {
		return id, nil, nil // an SSH-1 server sends no KEXINIT; the caller judges the version
	}
	for range sshMaxSkipped + 1 {
		payload, err := readPacket(br)
		if err != nil {
			return id, nil, err
		}
		switch payload[0] {
		case sshMsgIgnore, sshMsgDebug:
			continue // allowed at any time (RFC 4253 §11)
		case sshMsgDisconnect:
			return id, nil, parseDisconnect(payload)
		case sshMsgKexinit:
			k, err := parseKexinit(payload)
			return id, k, err
		default:
			return id, nil, wireErrorf("the server's first packet is message type %d, not KEXINIT (20)", payload[0])
		}
	}
	return id, nil, wireErrorf("more than %d IGNORE/DEBUG packets before the KEXINIT", sshMaxSkipped)
}

// readIdent reads lines until one starts with "SSH-". Lines before it are allowed (RFC 4253 §4.2) but
// bounded in length and number of bytes; a peer that exceeds the bounds, sends a NUL, or closes the
// connection after sending other text is not an SSH server.
func readIdent(br *bufio.Reader) (sshIdent, error) {
	var id sshIdent
	var seen []byte // what came before the identification, kept up to a preview's length
	total := 0
	for {
		line, err := readLine(br, sshMaxLineLen)
		total += len(line)
		seen = appendPreview(seen, line)
		if err != nil {
			switch {
			case errors.Is(err, errLineTooLong):
				return id, &sshNotSSHError{fmt.Sprintf("a line longer than %d bytes without an SSH identification", sshMaxLineLen), seen}
			case errors.Is(err, io.EOF) && total > 0 && !bytes.HasPrefix(line, []byte("SSH-")):
				return id, &sshNotSSHError{"it closed the connection after sending text that is not an SSH identification", seen}
			case errors.Is(err, io.EOF) && total > 0:
				return id, fmt.Errorf("connection closed in the middle of the identification line: %w", io.ErrUnexpectedEOF)
			case errors.Is(err, io.EOF):
				return id, fmt.Errorf("connection closed without an identification: %w", err)
			}
			return id, fmt.Errorf("reading the identification: %w", err)
		}
		text := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if bytes.HasPrefix(text, []byte("SSH-")) {
			if len(line) > sshMaxIdentLen {
				return id, &sshNotSSHError{fmt.Sprintf("its identification is %d bytes, more than the %d RFC 4253 allows", len(line), sshMaxIdentLen), seen}
			}
			return parseIdent(string(text), id, seen)
		}
		if bytes.IndexByte(text, 0) >= 0 {
			return id, &sshNotSSHError{"it sent a NUL byte before any SSH identification", seen}
		}
		if total > sshMaxPreIdent {
			return id, &sshNotSSHError{fmt.Sprintf("more than %d bytes without an SSH identification", sshMaxPreIdent), seen}
		}
		if id.PreLines++; len(id.Pre) < sshMaxPreKept {
			id.Pre = append(id.Pre, printable(text))
		}
	}
}

// parseIdent splits "SSH-protoversion-softwareversion SP comments" and checks its characters. A line that
// fails the check is returned only inside the error, so no caller mistakes it for an identification.
func parseIdent(line string, id sshIdent, seen []byte) (sshIdent, error) {
	id.Line = line
	rest := strings.TrimPrefix(line, "SSH-")
	proto, rest, ok := strings.Cut(rest, "-")
	id.Software, id.Comments, _ = strings.Cut(rest, " ")
	id.Proto = proto
	bad := func(s string, spaceOK bool) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return r > '~' || r < ' ' || (!spaceOK && r == ' ') })
	}
	switch {
	case !ok || proto == "" || id.Software == "":
		return sshIdent{}, &sshNotSSHError{fmt.Sprintf("malformed identification %q: want SSH-protoversion-softwareversion", line), seen}
	case bad(proto, false) || bad(id.Software, false) || bad(id.Comments, true):
		return sshIdent{}, &sshNotSSHError{fmt.Sprintf("identification %q holds characters other than printable US-ASCII", line), seen}
	}
	return id, nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads up to and including '\n', at most max bytes. On error it returns what it read.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return line, err
		}
		line = append(line, b)
		if b == '\n' {
			return line, nil
		}
		if len(line) >= max {
			return line, errLineTooLong
		}
	}
}

// readPacket reads one unencrypted binary packet and returns its payload, which is never empty.
func readPacket(r io.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, packetReadError(err)
	}
	length, padding := binary.BigEndian.Uint32(hdr[:4]), uint32(hdr[4])
	switch {
	case length > sshMaxPacketLen:
		return nil, wireErrorf("malformed packet: length %d is more than the %d bytes a KEXINIT could need", length, sshMaxPacketLen)
	case padding < 4:
		return nil, wireErrorf("malformed packet: %d bytes of padding, RFC 4253 requires at least 4", padding)
	case length < padding+2:
		return nil, wireErrorf("malformed packet: length %d leaves no room for a payload after %d bytes of padding", length, padding)
	}
	body := make([]byte, length-1)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, packetReadError(err)
	}
	return body[:length-1-padding], nil
}

func packetReadError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("connection closed before the server's KEXINIT was complete: %w", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("reading the server's KEXINIT: %w", err)
}

// parseKexinit decodes an SSH_MSG_KEXINIT payload (RFC 4253 §7.1): the message number, a 16-byte cookie,
// ten name-lists, the first_kex_packet_follows flag and a reserved uint32.
func parseKexinit(p []byte) (*kexInit, error) {
	if len(p) < 17 || p[0] != sshMsgKexinit {
		return nil, wireErrorf("malformed KEXINIT: %d bytes, too short for the message number and cookie", len(p))
	}
	rest := p[17:]
	k := &kexInit{}
	lists := []struct {
		dst  *[]string
		name string
	}{
		{&k.Kex, "kex_algorithms"}, {&k.HostKey, "server_host_key_algorithms"},
		{&k.CiphersC2S, "encryption_algorithms_client_to_server"}, {&k.CiphersS2C, "encryption_algorithms_server_to_client"},
		{&k.MACsC2S, "mac_algorithms_client_to_server"}, {&k.MACsS2C, "mac_algorithms_server_to_client"},
		{&k.CompC2S, "compression_algorithms_client_to_server"}, {&k.CompS2C, "compression_algorithms_server_to_client"},
		{&k.LangC2S, "languages_client_to_server"}, {&k.LangS2C, "languages_server_to_client"},
	}
	for _, l := range lists {
		var err error
		if *l.dst, rest, err = parseNameList(rest); err != nil {
			return nil, wireErrorf("malformed KEXINIT: %s: %v", l.name, err)
		}
	}
	if len(rest) < 5 {
		return nil, wireErrorf("malformed KEXINIT: ends before first_kex_packet_follows and the reserved field")
	}
	k.FirstKexFollows = rest[0] != 0
	return k, nil
}

// parseNameList reads a uint32-length-prefixed, comma-separated list of non-empty names made of printable
// US-ASCII without spaces (RFC 4251 §5, RFC 4250 §4.6.1).
func parseNameList(b []byte) ([]string, []byte, error) {
	if len(b) < 4 {
		return nil, nil, errors.New("truncated length")
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d runs past the end of the packet (%d bytes left)", n, len(b))
	}
	raw, rest := b[:n], b[n:]
	if n == 0 {
		return []string{}, rest, nil
	}
	for _, c := range raw {
		if c <= ' ' || c > '~' {
			return nil, nil, fmt.Errorf("byte 0x%02x is not allowed in a name", c)
		}
	}
	names := strings.Split(string(raw), ",")
	for _, name := range names {
		if name == "" {
			return nil, nil, fmt.Errorf("empty name in %q", raw)
		}
	}
	return names, rest, nil
}

// parseDisconnect turns an SSH_MSG_DISCONNECT payload into an error, as far as it can be read.
func parseDisconnect(p []byte) error {
	e := &sshDisconnectError{}
	if len(p) >= 5 {
		e.code = binary.BigEndian.Uint32(p[1:5])
	}
	if len(p) >= 9 {
		n := binary.BigEndian.Uint32(p[5:9])
		desc := p[9:]
		if uint64(n) < uint64(len(desc)) {
			desc = desc[:n]
		}
		e.desc = string(desc[:min(len(desc), 200)]) // shown with %q, which escapes what is not printable
	}
	return e
}

// sshPacket frames payload as an unencrypted binary packet with random padding to a multiple of 8.
func sshPacket(payload []byte) []byte {
	padding := 8 - (5+len(payload))%8
	if padding < 4 {
		padding += 8
	}
	pkt := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+padding))
	pkt = append(pkt, byte(padding))
	pkt = append(pkt, payload...)
	pad := make([]byte, padding)
	rand.Read(pad)
	return append(pkt, pad...)
}

// disconnectPacket is SSH_MSG_DISCONNECT "by application", so the server logs a polite goodbye rather
// than a connection that dropped during key exchange.
func disconnectPacket(desc string) []byte {
	p := []byte{sshMsgDisconnect}
	p = binary.BigEndian.AppendUint32(p, sshDisconnectByApplication)
	p = binary.BigEndian.AppendUint32(p, uint32(len(desc)))
	p = append(p, desc...)
	p = binary.BigEndian.AppendUint32(p, 0) // language tag
	return sshPacket(p)
}

// printable renders bytes from the peer for evidence and summaries: valid printable UTF-8 stays, anything
// else (control characters, terminal escapes, invalid bytes, bidi overrides) is escaped as \xNN or \uNNNN.
func printable(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\\':
			sb.WriteString(`\\`)
		case unicode.IsPrint(r):
			sb.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&sb, `\x%02x`, r)
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
		b = b[size:]
	}
	return sb.String()
}

// appendPreview keeps the first 256 bytes of what a peer sent, for evidence of what it was.
func appendPreview(dst, b []byte) []byte {
	const preview = 256
	if room := preview - len(dst); room > 0 {
		dst = append(dst, b[:min(room, len(b))]...)
	}
	return dst
}
