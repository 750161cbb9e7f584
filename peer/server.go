package peer

import (
	"cmp"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// Server serves this facility's state to the pinned peer, read-only: the latest sealed run of an
// operation (found by operation id through the log's index, never by a path from the request), its
// inclusion proof, the roster and the latest checkpoint with a consistency proof, and the live progress
// of a run not sealed yet. Only TLS 1.3 clients presenting the pinned key get past the handshake; requests
// are GET only, without a body, with a small header; connections, time and rate are bounded.
type Server struct {
	Dir      string // this facility's log
	Identity *Identity
	Facility Facility // this facility's id and role
	Peer     *Pin     // the one client accepted
	Now      func() time.Time
	Log      *slog.Logger
	// HandshakeTimeout bounds the TLS handshake and the request header (default 5s).
	HandshakeTimeout time.Duration

	once     sync.Once
	mu       sync.Mutex
	srv      *http.Server
	closed   bool
	limit    *bucket
	answered atomic.Int64
}

// Timeouts of the server: a client that stalls is dropped.
const (
	readHeaderTimeout = 5 * time.Second // includes the TLS handshake
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
)

// Serve answers on ln until Close. ln is a plain TCP listener; Serve does the TLS.
func (s *Server) Serve(ln net.Listener) error {
	if s.Identity == nil || s.Peer == nil || s.Dir == "" {
		return errors.New("peer server: needs this facility's log, identity and the pinned peer")
	}
	h := s.Handler() // sets the defaults
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         serverTLS(s.Identity, s.Peer),
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
		ReadHeaderTimeout: cmp.Or(s.HandshakeTimeout, readHeaderTimeout),
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    MaxHeader,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.srv = srv
	s.mu.Unlock()
	err := srv.ServeTLS(limitListener(ln, MaxConns), "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server and every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// Answered counts the requests answered with 200 (tests: a refused client got nothing).
func (s *Server) Answered() int64 { return s.answered.Load() }

// Handler is the server's HTTP handler (behind the TLS that Serve sets up).
func (s *Server) Handler() http.Handler {
	s.once.Do(func() {
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Log == nil {
			s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		s.limit = newBucket(RatePerSecond, RateBurst, time.Now)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/operations/{op}", s.operation)
	mux.HandleFunc("GET /v1/checkpoint", s.checkpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusWriter{ResponseWriter: w}
		switch {
		case !s.limit.take():
			refuse(rec, http.StatusTooManyRequests, fmt.Sprintf("rate limit: at most %d requests a second", RatePerSecond))
		case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
			refuse(rec, http.StatusRequestEntityTooLarge, "requests have no body")
		default:
			for k := range r.URL.Query() {
				if k != "since" {
					refuse(rec, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q", k))
					s.logRequest(r, rec.code, start)
					return
				}
			}
			mux.ServeHTTP(rec, r)
		}
		s.logRequest(r, rec.code, start)
	})
}

func (s *Server) logRequest(r *http.Request, code int, start time.Time) {
	level := slog.LevelDebug
	if code != http.StatusOK {
		level = slog.LevelInfo
	}
	s.Log.Log(r.Context(), level, "peer request", "from", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"status", code, "took", time.Since(start).Round(time.Microsecond))
}

// operation answers the state of one operation.
func (s *Server) operation(w http.ResponseWriter, r *http.Request) {
	op := r.PathValue("op")
	if !ValidOperation(op) {
		refuse(w, http.StatusBadRequest, "bad operation id: letters, digits, '.', '_' and '-', up to 64")
		return
	}
	st, v, ok := s.base(w, r)
	if !ok {
		return
	}
	st.Operation = op
	e, data, err := v.LatestRun(op)
	if err != nil {
		refuse(w, http.StatusServiceUnavailable, "this facility's log does not verify: "+err.Error())
		return
	}
	var after time.Time
	if e != nil {
		proof, err := v.InclusionProof(e.Leaf)
		if err != nil {
			refuse(w, http.StatusServiceUnavailable, "inclusion proof: "+err.Error())
			return
		}
		st.Run = &Run{Leaf: e.Leaf, Record: data, Inclusion: runlog.EncodeHashes(proof)}
		after, _ = time.Parse(time.RFC3339Nano, e.StartedAt)
	}
	st.Live = v.LiveRun(op, after)
	s.answer(w, st)
}

// checkpoint answers the latest checkpoint and the consistency proof only.
func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) {
	if st, _, ok := s.base(w, r); ok {
		s.answer(w, st)
	}
}

// base reads the log at its checkpoint and fills what every answer carries.
func (s *Server) base(w http.ResponseWriter, r *http.Request) (*State, *runlog.LogView, bool) {
	var since int64
	if q := r.URL.Query().Get("since"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 0 {
			refuse(w, http.StatusBadRequest, "since: a log size, 0 or more")
			return nil, nil, false
		}
		since = n
	}
	v, err := runlog.OpenView(s.Dir)
	if err != nil {
		refuse(w, http.StatusServiceUnavailable, "this facility's log cannot be served: "+err.Error())
		return nil, nil, false
	}
	roster, err := runlog.ReadRoster(s.Dir)
	if err != nil {
		refuse(w, http.StatusServiceUnavailable, "roster: "+err.Error())
		return nil, nil, false
	}
	st := &State{Schema: Schema, Facility: s.Facility, Now: s.Now().UTC(), Roster: string(roster), Checkpoint: string(v.CheckpointNote)}
	if since > 0 && since <= v.Checkpoint.Size {
		proof, err := v.ConsistencyProof(since)
		if err != nil {
			refuse(w, http.StatusServiceUnavailable, "consistency proof: "+err.Error())
			return nil, nil, false
		}
		st.Consistency = &Proof{From: since, Hashes: runlog.EncodeHashes(proof)}
	}
	if c, err := runlog.WitnessedCopy(s.Dir, s.Peer.ID); err == nil && c != nil {
		st.Witness = string(c)
	}
	return st, v, true
}

func (s *Server) answer(w http.ResponseWriter, st *State) {
	b, err := json.Marshal(st)
	if err != nil {
		refuse(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	s.answered.Add(1)
}

func refuse(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(apiError{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// statusWriter remembers the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
	now         func() time.Time
}

func newBucket(rate, burst int, now func() time.Time) *bucket {
	return &bucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now(), now: now}
}

func (b *bucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limitListener holds at most n connections at once; Accept waits for a free slot.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limited{Listener: ln, slots: make(chan struct{}, n)}
}

type limited struct {
	net.Listener
	slots chan struct{}
}

func (l *limited) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
}

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
