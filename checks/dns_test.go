package checks

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeResolver is an in-process DNS server for the tests. Addresses in its records are only DNS data:
// nothing is ever sent to them.
type fakeResolver struct {
	zone     string   // names under it without a record get NXDOMAIN
	records  []dns.RR // answered whatever the zone, so a "leaking" resolver is just one with outside records
	outside  int      // rcode for other names: REFUSED for an isolated resolver
	truncUDP bool     // UDP replies carry TC and no records, as from a server with a small buffer
	silent   bool     // read every query, answer none
	hits     atomic.Int32
	noRD     atomic.Int32 // queries without recursion desired, which a resolver may answer from cache only
}

func (f *fakeResolver) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	f.hits.Add(1)
	if !r.RecursionDesired {
		f.noRD.Add(1)
	}
	if f.silent {
		return
	}
	m := new(dns.Msg).SetReply(r)
	q := r.Question[0]
	known := false
	for _, rr := range f.records {
		if strings.EqualFold(rr.Header().Name, q.Name) {
			known = true
			// A CNAME answers every type, as on a real server; this one does not chase it.
			if q.Qtype == dns.TypeANY || rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	switch {
	case known:
	case dns.IsSubDomain(f.zone, q.Name):
		m.Rcode = dns.RcodeNameError
	default:
		m.Rcode = f.outside
	}
	if f.truncUDP && w.RemoteAddr().Network() == "udp" {
		m.Truncated, m.Answer = true, nil
	}
	w.WriteMsg(m)
}

// hospitalZone is the internal zone of the patient-side facility; outside names are refused.
func hospitalZone(t *testing.T) *fakeResolver {
	return &fakeResolver{zone: "hospital.test.", outside: dns.RcodeRefused, records: []dns.RR{
		mustRR(t, "robot.hospital.test. 60 IN A 198.18.1.10"),
		mustRR(t, "hospital.test. 60 IN MX 10 mail.hospital.test."),
		mustRR(t, "10.1.18.198.in-addr.arpa. 60 IN PTR robot.hospital.test."),
	}}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// serveDNS starts h on 127.0.0.1, over UDP and, when withTCP, over TCP on the same port; it returns the port.
func serveDNS(t *testing.T, h dns.Handler, withTCP bool) int {
	t.Helper()
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if withTCP {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil { // the TCP twin of the port is taken; try another
				pc.Close()
				if attempt < 10 {
					continue
				}
				t.Fatal(err)
			}
			startDNSServer(t, &dns.Server{Listener: l, Handler: h})
		}
		startDNSServer(t, &dns.Server{PacketConn: pc, Handler: h})
		return port
	}
}

func startDNSServer(t *testing.T, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.ShutdownContext(ctx)
	})
}

// runDNS runs spec against the loopback resolver target.
func runDNS(t *testing.T, spec *DNSSpec) Result {
	t.Helper()
	env := loopbackEnv(t, map[string]Target{"resolver": loopback})
	spec.Server = "resolver"
	if spec.Timeout == 0 {
		spec.Timeout = Duration(time.Second)
	}
	return spec.Run(context.Background(), env)
}

// dnsEntries returns the per-exchange evidence of a result.
func dnsEntries(t *testing.T, r Result) []map[string]any {
	t.Helper()
	qs, ok := r.Evidence["queries"].([]map[string]any)
	if !ok {
		t.Fatalf("evidence has no queries list: %#v", r.Evidence)
	}
	return qs
}

func TestDNSIsolatedResolverPasses(t *testing.T) {
	f := hospitalZone(t)
	port := serveDNS(t, f, true)
	r := runDNS(t, &DNSSpec{Port: port, Queries: []DNSQuery{
		{Name: "robot.hospital.test", Expect: "answer", Contains: "198.18.1.10"},
		{Name: "hospital.test", Type: "mx", Expect: "answer", Contains: "mail.hospital.test"},
		{Name: "198.18.1.10", Type: "PTR", Expect: "answer", Contains: "robot.hospital.test."},
		{Name: "example.com", Expect: "refused"},
		{Name: "example.com", Type: "AAAA", Expect: "blocked"},
		{Name: "missing.hospital.test", Expect: "nxdomain"},
		{Name: "robot.hospital.test", Type: "AAAA", Expect: "no-answer"},
	}})
	if r.Status != Pass {
		t.Fatalf("status %s (%s), want pass", r.Status, r.Summary)
	}
	qs := dnsEntries(t, r)
	if len(qs) != 14 || f.hits.Load() != 14 {
		t.Fatalf("%d evidence entries and %d queries served, want 14 of each (7 questions × udp, tcp)", len(qs), f.hits.Load())
	}
	if n := f.noRD.Load(); n != 0 {
		t.Errorf("%d queries without recursion desired", n)
	}
	want := []struct{ name, typ, rcode, answer string }{
		{"robot.hospital.test.", "A", "NOERROR", "198.18.1.10"},
		{"hospital.test.", "MX", "NOERROR", "10 mail.hospital.test."},
		{"10.1.18.198.in-addr.arpa.", "PTR", "NOERROR", "robot.hospital.test."},
		{"example.com.", "A", "REFUSED", ""},
		{"example.com.", "AAAA", "REFUSED", ""},
		{"missing.hospital.test.", "A", "NXDOMAIN", ""},
		{"robot.hospital.test.", "AAAA", "NOERROR", ""},
	}
	for i, q := range qs {
		w := want[i/2]
		answers := q["answers"].([]string)
		if q["name"] != w.name || q["type"] != w.typ || q["rcode"] != w.rcode || q["transport"] != []string{"udp", "tcp"}[i%2] {
			t.Errorf("entry %d = %v, want %s %s %s", i, q, w.name, w.typ, w.rcode)
		}
		if (w.answer == "" && len(answers) != 0) || (w.answer != "" && (len(answers) != 1 || answers[0] != w.answer)) {
			t.Errorf("entry %d answers %q, want %q", i, answers, w.answer)
		}
		if q["status"] != Pass {
			t.Errorf("entry %d status %v, want pass", i, q["status"])
		}
		if _, failed := q["error"]; failed {
			t.Errorf("entry %d has an error: %v", i, q["error"])
		}
	}
	if _, err := json.Marshal(r.Evidence); err != nil {
		t.Errorf("evidence is not JSON-encodable: %v", err)
	}
	if !strings.Contains(r.Summary, "7 queries") || !strings.Contains(r.Summary, "udp and tcp") {
		t.Errorf("summary %q does not say what was asked", r.Summary)
	}
}

func TestDNSLeakingResolverFails(t *testing.T) {
	f := hospitalZone(t)
	f.records = append(f.records, mustRR(t, "example.com. 60 IN A 192.0.2.1"))
	port := serveDNS(t, f, true)
	r := runDNS(t, &DNSSpec{Port: port, Queries: []DNSQuery{
		{Name: "robot.hospital.test", Expect: "answer"},
		{Name: "example.com", Expect: "blocked"},
	}})
	if r.Status != Fail {
		t.Fatalf("status %s (%s), want fail", r.Status, r.Summary)
	}
	for _, s := range []string{"example.com. A over udp+tcp", "192.0.2.1", "leaks"} {
		if !strings.Contains(r.Summary, s) {
			t.Errorf("summary %q does not contain %q", r.Summary, s)
		}
	}
	if strings.Contains(r.Summary, "robot") {
		t.Errorf("summary %q names a query that passed", r.Summary)
	}
	leak := dnsEntries(t, r)[2]
	if leak["rcode"] != "NOERROR" || len(leak["answers"].([]string)) != 1 || leak["answers"].([]string)[0] != "192.0.2.1" {
		t.Errorf("leak evidence %v, want NOERROR with 192.0.2.1", leak)
	}
}

func TestDNSLeakOutranksError(t *testing.T) {
	f := hospitalZone(t)
	f.records = append(f.records, mustRR(t, "example.com. 60 IN A 192.0.2.1"))
	port := serveDNS(t, f, false)
	closeTCP(t, port)
	r := runDNS(t, &DNSSpec{Port: port, Queries: []DNSQuery{
		{Name: "robot.hospital.test", Expect: "answer"},
		{Name: "example.com", Expect: "refused"},
	}})
	// A leak seen over UDP is decided, whatever TCP did; it leads the summary.
	if r.Status != Fail || !strings.HasPrefix(r.Summary, "example.com. A over udp: resolved to [192.0.2.1]") {
		t.Fatalf("got %s %q, want fail led by the UDP leak", r.Status, r.Summary)
	}
	if !strings.Contains(r.Summary, "robot.hospital.test. A over tcp: no usable response (refused)") {
		t.Errorf("summary %q does not list the TCP leg that could not be decided", r.Summary)
	}
	want := []Status{Pass, Error, Fail, Error}
	for i, q := range dnsEntries(t, r) {
		if q["status"] != want[i] {
			t.Errorf("entry %d (%s over %s) status %v, want %s", i, q["name"], q["transport"], q["status"], want[i])
		}
	}
}

func TestDNSExpectations(t *testing.T) {
	f := hospitalZone(t)
	f.records = append(f.records, mustRR(t, "alias.hospital.test. 60 IN CNAME cdn.example.net."))
	port := serveDNS(t, f, true)
	servfail := &fakeResolver{outside: dns.RcodeServerFailure}
	servfailPort := serveDNS(t, servfail, true)
	for _, tc := range []struct {
		name   string
		port   int
		q      DNSQuery
		want   Status
		inSumm string
	}{
		{"contains compares addresses exactly", port, DNSQuery{Name: "robot.hospital.test", Expect: "answer", Contains: "198.18.1.1"}, Fail, `do not contain "198.18.1.1"`},
		{"answer expected, NXDOMAIN came", port, DNSQuery{Name: "gone.hospital.test", Expect: "answer"}, Fail, "got NXDOMAIN, expected an answer"},
		{"answer needs a record of the asked type", port, DNSQuery{Name: "alias.hospital.test", Expect: "answer"}, Fail, "NOERROR without a A record (answers [cdn.example.net.])"},
		{"CNAME asked directly", port, DNSQuery{Name: "alias.hospital.test", Type: "CNAME", Expect: "answer", Contains: "CDN.example.net"}, Pass, ""},
		{"a CNAME out is a leak whatever the rcode", port, DNSQuery{Name: "alias.hospital.test", Expect: "blocked"}, Fail, "resolved to [cdn.example.net.] (NOERROR), expected blocked — the name leaks"},
		{"nxdomain expected, REFUSED came", port, DNSQuery{Name: "example.org", Expect: "nxdomain"}, Fail, "got REFUSED, expected nxdomain"},
		{"refused expected, NXDOMAIN came", port, DNSQuery{Name: "gone.hospital.test", Expect: "refused"}, Fail, "got NXDOMAIN, expected refused"},
		{"no-answer expected, records came", port, DNSQuery{Name: "robot.hospital.test", Expect: "no-answer"}, Fail, "resolved to [198.18.1.10]"},
		{"no-answer expected, NXDOMAIN came", port, DNSQuery{Name: "gone.hospital.test", Expect: "no-answer"}, Fail, "got NXDOMAIN, expected no-answer"},
		{"blocked accepts SERVFAIL", servfailPort, DNSQuery{Name: "example.com", Expect: "blocked"}, Pass, ""},
		{"refused expected, SERVFAIL came", servfailPort, DNSQuery{Name: "example.com", Expect: "refused"}, Fail, "got SERVFAIL, expected refused"},
		{"SERVFAIL for an internal name", servfailPort, DNSQuery{Name: "robot.hospital.test", Expect: "answer"}, Fail, "got SERVFAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runDNS(t, &DNSSpec{Port: tc.port, Transport: "udp", Queries: []DNSQuery{tc.q}})
			if r.Status != tc.want || !strings.Contains(r.Summary, tc.inSumm) {
				t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Summary, tc.want, tc.inSumm)
			}
			if qs := dnsEntries(t, r); len(qs) != 1 || qs[0]["rcode"] == nil {
				t.Errorf("evidence %v, want one entry with an rcode", qs)
			}
		})
	}
}

func TestDNSUDPOnlyServerErrorsOverTCP(t *testing.T) {
	f := hospitalZone(t)
	port := serveDNS(t, f, false)
	closeTCP(t, port)
	r := runDNS(t, &DNSSpec{Port: port, Queries: []DNSQuery{{Name: "robot.hospital.test", Expect: "answer"}}})
	if r.Status != Error || !strings.Contains(r.Summary, "over tcp") || !strings.Contains(r.Summary, "refused") {
		t.Fatalf("got %s %q, want error naming the refused tcp leg", r.Status, r.Summary)
	}
	qs := dnsEntries(t, r)
	if qs[0]["rcode"] != "NOERROR" || qs[0]["error"] != nil {
		t.Errorf("udp entry %v, want an answer", qs[0])
	}
	if qs[1]["error"] == nil || qs[1]["rcode"] != nil {
		t.Errorf("tcp entry %v, want an error and no rcode", qs[1])
	}
}

func TestDNSSilentResolverIsErrorNotPass(t *testing.T) {
	f := &fakeResolver{silent: true}
	port := serveDNS(t, f, true)
	start := time.Now()
	r := runDNS(t, &DNSSpec{Port: port, Timeout: Duration(200 * time.Millisecond),
		Queries: []DNSQuery{{Name: "example.com", Expect: "refused"}, {Name: "example.net", Expect: "blocked"}}})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s with a 200ms timeout", took)
	}
	if r.Status != Error || !strings.Contains(r.Summary, "timeout") || !strings.Contains(r.Summary, "no reply is not proof") {
		t.Fatalf("got %s %q, want error: a silent resolver proves nothing", r.Status, r.Summary)
	}
	if f.hits.Load() == 0 {
		t.Error("the resolver never saw a query; the test proves nothing")
	}
	for _, q := range dnsEntries(t, r) {
		if q["error"] == nil {
			t.Errorf("entry %v has no error", q)
		}
	}
}

func TestDNSRefusedTCPConnectionIsError(t *testing.T) {
	l := listen(t)
	port := portOf(l)
	l.Close()
	r := runDNS(t, &DNSSpec{Port: port, Transport: "tcp", Queries: []DNSQuery{{Name: "example.com", Expect: "refused"}}})
	if r.Status != Error || !strings.Contains(r.Summary, "(refused)") {
		t.Fatalf("got %s %q, want error (refused)", r.Status, r.Summary)
	}
	if e, _ := dnsEntries(t, r)[0]["error"].(string); !strings.Contains(e, "refused") {
		t.Errorf("evidence error %q does not say refused", e)
	}
}

func TestDNSOutOfScopeServerSendsNothing(t *testing.T) {
	f := hospitalZone(t)
	port := serveDNS(t, f, true)
	env := loopbackEnv(t, map[string]Target{"resolver": loopback})
	env.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
	spec := &DNSSpec{Server: "resolver", Port: port, Queries: []DNSQuery{{Name: "example.com", Expect: "refused"}}}
	r := spec.Run(context.Background(), env)
	if r.Status != Error || !strings.Contains(r.Summary, "outside the profile's scope") {
		t.Fatalf("got %s %q, want an out-of-scope error", r.Status, r.Summary)
	}
	if n := f.hits.Load(); n != 0 {
		t.Fatalf("the out-of-scope resolver received %d queries", n)
	}
	// The dialer's own check is the second line: even a direct exchange is stopped before connect.
	_, _, err := dnsExchange(context.Background(), env.Dialer(time.Second), "udp",
		net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), new(dns.Msg).SetQuestion("example.com.", dns.TypeA), time.Second)
	if Classify(err) != "out-of-scope" || f.hits.Load() != 0 {
		t.Fatalf("direct exchange: %v, %d queries served; want out-of-scope and none", err, f.hits.Load())
	}
}

func TestDNSTruncatedUDPIsAskedAgainOverTCP(t *testing.T) {
	t.Run("tcp answers", func(t *testing.T) {
		f := hospitalZone(t)
		f.truncUDP = true
		port := serveDNS(t, f, true)
		r := runDNS(t, &DNSSpec{Port: port, Transport: "udp",
			Queries: []DNSQuery{{Name: "robot.hospital.test", Expect: "answer", Contains: "198.18.1.10"}}})
		q := dnsEntries(t, r)[0]
		if r.Status != Pass || q["truncated"] != true || q["retried_over"] != "tcp" {
			t.Fatalf("got %s %q %v, want pass after a TCP retry", r.Status, r.Summary, q)
		}
	})
	t.Run("tcp closed", func(t *testing.T) {
		f := hospitalZone(t)
		f.truncUDP = true
		port := serveDNS(t, f, false)
		closeTCP(t, port)
		// The truncated reply is an empty NOERROR: believed, it would pass no-answer and fail answer.
		r := runDNS(t, &DNSSpec{Port: port, Transport: "udp", Queries: []DNSQuery{
			{Name: "robot.hospital.test", Expect: "no-answer"}, {Name: "robot.hospital.test", Expect: "answer"}}})
		if r.Status != Error || strings.Count(r.Summary, "UDP reply truncated and the TCP retry failed (refused)") != 2 {
			t.Fatalf("got %s %q, want error for both: a truncated reply proves no absence", r.Status, r.Summary)
		}
		for _, q := range dnsEntries(t, r) {
			if q["truncated"] != true || q["retry_error"] == nil || q["status"] != Error {
				t.Errorf("entry %v, want truncated with a retry error", q)
			}
		}
	})
	t.Run("tcp closed, rcode still decides", func(t *testing.T) {
		f := hospitalZone(t)
		f.truncUDP = true
		port := serveDNS(t, f, false)
		closeTCP(t, port)
		r := runDNS(t, &DNSSpec{Port: port, Transport: "udp", Queries: []DNSQuery{
			{Name: "example.com", Expect: "refused"}, {Name: "example.com", Expect: "nxdomain"}}})
		if r.Status != Fail || strings.Count(r.Summary, "over udp") != 1 || !strings.Contains(r.Summary, "got REFUSED, expected nxdomain") {
			t.Fatalf("got %s %q, want the REFUSED rcode to decide both queries", r.Status, r.Summary)
		}
	})
}

func TestDNSCancelledContextIsError(t *testing.T) {
	f := hospitalZone(t)
	port := serveDNS(t, f, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec := &DNSSpec{Server: "resolver", Port: port, Queries: []DNSQuery{{Name: "example.com", Expect: "refused"}}}
	if r := spec.Run(ctx, loopbackEnv(t, map[string]Target{"resolver": loopback})); r.Status != Error {
		t.Fatalf("got %s %q, want error", r.Status, r.Summary)
	}
}

func TestDNSCheck(t *testing.T) {
	targets := map[string]Target{"resolver": {Address: netip.MustParseAddr("198.18.1.53")}}
	ok := DNSQuery{Name: "robot.hospital.test", Expect: "answer"}
	for _, tc := range []struct {
		name string
		spec DNSSpec
		want []string // fields with problems, in order
	}{
		{"valid", DNSSpec{Server: "resolver", Queries: []DNSQuery{ok,
			{Name: "198.18.1.10", Type: "ptr", Expect: "answer", Contains: "robot"},
			{Name: "_sip._tcp.hospital.test.", Type: "SRV", Expect: "blocked"}, {Name: ".", Type: "NS", Expect: "answer"}}}, nil},
		{"no server", DNSSpec{Queries: []DNSQuery{ok}}, []string{"server"}},
		{"unknown server", DNSSpec{Server: "dns1", Queries: []DNSQuery{ok}}, []string{"server"}},
		{"bad port", DNSSpec{Server: "resolver", Port: 70000, Queries: []DNSQuery{ok}}, []string{"port"}},
		{"bad transport", DNSSpec{Server: "resolver", Transport: "doh", Queries: []DNSQuery{ok}}, []string{"transport"}},
		{"no queries", DNSSpec{Server: "resolver"}, []string{"queries"}},
		{"query problems", DNSSpec{Server: "resolver", Queries: []DNSQuery{ok,
			{Name: "a.test", Type: "AAA", Expect: "answer"},
			{Name: "a.test", Type: "AXFR", Expect: "refused"},
			{Name: "a.test", Expect: "resolves"},
			{Name: "a.test"},
			{Name: "a.test", Expect: "refused", Contains: "192.0.2.1"},
			{Name: "a..test", Expect: "answer"},
			{Name: strings.Repeat("x", 64) + ".test", Expect: "answer"},
			{Name: "198.18.1.10", Expect: "answer"},
			{Name: "robot hospital.test", Expect: "answer"},
			{Expect: "answer"},
		}}, []string{"queries[1].type", "queries[2].type", "queries[3].expect", "queries[4].expect",
			"queries[5].contains", "queries[6].name", "queries[7].name", "queries[8].name", "queries[9].name", "queries[10].name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Validator{Targets: targets, Scope: NewScope(netip.MustParsePrefix("198.18.0.0/15"))}
			tc.spec.Check(v)
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Field)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("problems %v, want fields %v", v.Problems, tc.want)
			}
		})
	}
}

// closeTCP makes sure nothing listens on TCP at port, so connecting there is refused.
func closeTCP(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("TCP port %d is taken by something else: %v", port, err)
	}
	l.Close()
}
