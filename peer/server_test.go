package peer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

func TestWrongPinnedKey(t *testing.T) {
	patient, surgeon := pair(t)
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	other, _, _ := ed25519.GenerateKey(rand.Reader)

	// The patient side pins another key for the surgeon side: the surgeon's server is not accepted.
	patient.useProfile(t, surgeon, pinString(other), "")
	s := patient.link(t, op).Poll(context.Background())
	if s.Ready() || s.Peer.State != StateUnreachable || !strings.Contains(s.Peer.Problem, "but the profile pins "+pinString(other)) {
		t.Fatalf("wrong pin on the client: %+v", s.Peer)
	}
	// The surgeon's server pins another key for the patient side: the patient's client is refused.
	surgeon.server.Peer = NewPin("patient-site", "patient-side", other)
	surgeon2 := &fac{id: surgeon.id, role: surgeon.role, dir: surgeon.dir, ident: surgeon.ident}
	surgeon2.serve(t, NewPin("patient-site", "patient-side", other), 0)
	patient.useProfile(t, surgeon2, surgeon.ident.Key.Pin(), "")
	s = patient.link(t, op).Poll(context.Background())
	if s.Ready() || s.Peer.State != StateUnreachable || !strings.Contains(s.Peer.Problem, "tls") {
		t.Fatalf("wrong pin on the server: %+v", s.Peer)
	}
	if n := surgeon2.server.Answered(); n != 0 {
		t.Fatalf("the server answered %d requests of a client it does not pin", n)
	}
}

func TestThirdClientRefused(t *testing.T) {
	patient, surgeon := pair(t)
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	third := newFac(t, "third-site", "patient-side", "mallory")

	// A third facility with its own key, pinning the surgeon's real key: the handshake fails.
	c := NewClient(surgeon.addr, third.ident, surgeon.pin(), 2*time.Second)
	defer c.Close()
	if _, _, err := c.Fetch(context.Background(), op, 0); err == nil {
		t.Fatal("a client the server does not pin got an answer")
	}
	// A client with no certificate at all, and one that offers TLS 1.2 only.
	for name, cfg := range map[string]*tls.Config{
		"no certificate": {InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
		"TLS 1.2":        {InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{patient.ident.Cert}},
	} {
		conn, err := tls.Dial("tcp", surgeon.addr, cfg)
		if err == nil {
			_, err = conn.Write([]byte("GET /v1/operations/" + op + " HTTP/1.1\r\nHost: x\r\n\r\n"))
			if err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
			conn.Close()
		}
		if err == nil {
			t.Errorf("%s: the server answered", name)
		}
	}
	// Plain HTTP on the TLS port.
	if resp, err := http.Get("http://" + surgeon.addr + "/v1/operations/" + op); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was answered")
		}
		resp.Body.Close()
	}
	if n := surgeon.server.Answered(); n != 0 {
		t.Fatalf("the server answered %d requests of clients it does not pin", n)
	}
	// The pinned client still gets its answer.
	pc := NewClient(surgeon.addr, patient.ident, surgeon.pin(), 2*time.Second)
	defer pc.Close()
	if st, _, err := pc.Fetch(context.Background(), op, 0); err != nil || st.Run == nil {
		t.Fatalf("the pinned client: %v", err)
	}
}

// serveWith runs a TLS server with f's identity for peer, answering with h: a peer that misbehaves but
// holds the right key (a compromised or broken `preflight serve`).
func serveWith(t *testing.T, f *fac, peer *Pin, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: serverTLS(f.ident, peer), ReadHeaderTimeout: time.Second}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestStallingAndHugePeer(t *testing.T) {
	patient, surgeon := pair(t)
	patient.sealRun(t, runOpts{op: op, sign: true})

	// A peer that accepts the connection and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	stall := make(chan struct{})
	defer close(stall)
	peers := map[string]string{
		"silent":    ln.Addr().String(),
		"slow body": serveWith(t, surgeon, patient.pin(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stall })),
		"huge body": serveWith(t, surgeon, patient.pin(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 1<<20)
			for range MaxAnswer>>20 + 2 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})),
	}
	want := map[string]string{"silent": "did not answer within 1s", "slow body": "did not answer within 1s", "huge body": "sent more than 32 MiB"}
	for name, addr := range peers {
		t.Run(name, func(t *testing.T) {
			surgeon.addr = addr
			patient.useProfile(t, surgeon, "", "")
			timeout := time.Second
			if name == "huge body" { // time enough to read 32 MiB under the race detector: the size stops it
				timeout = 20 * time.Second
			}
			patient.profile.Peer.Timeout = checks.Duration(timeout)
			start := time.Now()
			s := patient.link(t, op).Poll(context.Background())
			took := time.Since(start)
			if s.Ready() || s.Peer.State != StateUnreachable || !strings.Contains(s.Peer.Problem, want[name]) {
				t.Fatalf("%+v", s.Peer)
			}
			if took > timeout+2*time.Second {
				t.Fatalf("took %s with a %s timeout", took, timeout)
			}
		})
	}
}

// TestServerRefusesBadRequests: the pinned client itself is held to GET without a body, a small header,
// known parameters, an operation id that is only an id, and the rate limit.
func TestServerRefusesBadRequests(t *testing.T) {
	patient, surgeon := pair(t)
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	c := NewClient(surgeon.addr, patient.ident, surgeon.pin(), 2*time.Second)
	defer c.Close()
	do := func(method, path string, body io.Reader, header map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+surgeon.addr+path, body)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return -1
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, method, path string
		body               io.Reader
		header             map[string]string
		want               int
	}{
		{"body", "GET", "/v1/operations/" + op, strings.NewReader("x"), nil, http.StatusRequestEntityTooLarge},
		{"post", "POST", "/v1/operations/" + op, nil, nil, http.StatusMethodNotAllowed},
		{"unknown parameter", "GET", "/v1/operations/" + op + "?file=/etc/passwd", nil, nil, http.StatusBadRequest},
		{"negative since", "GET", "/v1/checkpoint?since=-1", nil, nil, http.StatusBadRequest},
		{"path in the id", "GET", "/v1/operations/..%2F..%2Fetc%2Fpasswd", nil, nil, http.StatusBadRequest},
		{"dot id", "GET", "/v1/operations/..", nil, nil, -1}, // cleaned by the mux: a redirect, which the client refuses
		{"unknown path", "GET", "/v1/records/x", nil, nil, http.StatusNotFound},
		{"huge header", "GET", "/v1/checkpoint", nil, map[string]string{"X-Pad": strings.Repeat("a", 2*MaxHeader)}, http.StatusRequestHeaderFieldsTooLarge},
		{"fine", "GET", "/v1/checkpoint?since=1", nil, nil, http.StatusOK},
	} {
		if got := do(tc.method, tc.path, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	limited := 0
	for range 3 * RateBurst {
		if do("GET", "/v1/checkpoint", nil, nil) == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("%d requests at once: none refused by the rate limit", 3*RateBurst)
	}
}

// TestServerDropsSilentConnections: a connection that never completes its handshake is closed.
func TestServerDropsSilentConnections(t *testing.T) {
	patient := newFac(t, "patient-site", "patient-side", "hsato")
	surgeon := newFac(t, "surgeon-site", "surgeon-side", "ttanaka")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Dir: surgeon.dir, Identity: surgeon.ident, Facility: Facility{ID: surgeon.id, Role: surgeon.role}, Peer: patient.pin(),
		HandshakeTimeout: 300 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("a silent connection was kept %s (%v)", time.Since(start), err)
	}
}

// TestTamperedInTransit: whatever is changed between the peer's log and this side — the record, its
// hash, the roster, the checkpoint, the leaf, who it claims to be — is caught, and never reads GO. The
// tamperer here even holds the peer's TLS key: only the signatures and proofs stand in its way.
func TestTamperedInTransit(t *testing.T) {
	patient, surgeon := pair(t)
	patient.sealRun(t, runOpts{op: op, sign: true})
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	surgeon.sealRun(t, runOpts{op: op, sign: true, fail: true}) // NO-GO, signed reject: leaf 1 of 2
	mallory := personalKey(t, "mallory")
	for _, tc := range []struct {
		name string
		edit func(st *State)
		want string
	}{
		{"record byte", func(st *State) {
			st.Run.Record = bytes.Replace(st.Run.Record, []byte(`"verdict": "no-go"`), []byte(`"verdict": "go"`), 1)
		}, "the record hashes to"},
		{"record rehashed", func(st *State) {
			st.Run.Record = rehash(t, bytes.Replace(st.Run.Record, []byte(`"verdict": "no-go"`), []byte(`"verdict": "go"`), 1))
		}, "not in the log its checkpoint signs"},
		{"record re-signed by an outsider", func(st *State) {
			st.Roster = strings.Replace(st.Roster, "signer ", "signer "+mallory.Verifier+` "Mallory" "Nobody"`+"\nsigner ", 1)
		}, "its roster"},
		{"checkpoint", func(st *State) { st.Checkpoint = strings.Replace(st.Checkpoint, "\n2\n", "\n3\n", 1) }, "its checkpoint"},
		{"leaf", func(st *State) { st.Run.Leaf = 0; st.Run.Inclusion = []string{} }, "not in the log its checkpoint signs"},
		{"facility", func(st *State) { st.Facility.ID = "patient-site" }, "pinned peer is surgeon-site"},
		{"role", func(st *State) { st.Facility.Role = "patient-side" }, "other side is the surgeon-side"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveWith(t, surgeon, patient.pin(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				surgeon.server.Handler().ServeHTTP(rec, r)
				var st State
				if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
					t.Errorf("the real answer: %v", err)
					return
				}
				tc.edit(&st)
				b, _ := json.Marshal(st)
				w.Write(b)
			}))
			patient.useProfile(t, &fac{id: surgeon.id, addr: addr}, surgeon.ident.Key.Pin(), "")
			s := patient.link(t, op).Poll(context.Background())
			if s.Ready() || s.Peer.State != StateUnverifiable || !strings.Contains(s.Peer.Problem, tc.want) {
				t.Fatalf("%s: %+v", s.Verdict, s.Peer)
			}
			if strings.Contains(Describe(s.Peer, time.UTC), "GO signed") {
				t.Fatal("a tampered answer reads as GO")
			}
		})
	}
}

// rehash recomputes a record's sha256 after an edit, as a tamperer would (the signature cannot be).
func rehash(t *testing.T, data []byte) []byte {
	t.Helper()
	var r runlog.Record
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	sig := r.Signature
	r.SHA256, r.Signature = "", ""
	body := canonical(t, &r)
	r.SHA256 = sha256hex(body)
	r.Signature = sig
	return canonical(t, &r)
}
