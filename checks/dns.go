package checks

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSSpec asks a resolver a list of questions and passes when every answer meets its expectation: internal
// names resolve, outside names do not. With transport "both" every question is asked over UDP and over TCP
// and both must meet it, because malware and misconfigured forwarders use whichever one is left open.
type DNSSpec struct {
	Server    string     `yaml:"server"`    // target name of the resolver
	Port      int        `yaml:"port"`      // default 53
	Transport string     `yaml:"transport"` // udp | tcp | both (default)
	Timeout   Duration   `yaml:"timeout"`   // per exchange; default the profile's timeout
	Queries   []DNSQuery `yaml:"queries"`
}

// DNSQuery is one question and what its answer must look like.
//
// Expect is required, because a forgotten expectation must not quietly turn an isolation check into
// "outside name resolves = pass". "blocked" is the isolation form: NXDOMAIN, REFUSED, SERVFAIL or an empty
// NOERROR all count, since resolvers differ in how they decline. Under every expectation but "answer",
// any answer record fails the query whatever the rcode: a CNAME chain ending in NXDOMAIN still shows the
// resolver fetched the outside name. A resolver that sinkholes names (RPZ to 0.0.0.0) is checked with
// expect "answer" and contains "0.0.0.0".
type DNSQuery struct {
	Name string `yaml:"name"` // a domain name; with type PTR an IP address is turned into its reverse name
	Type string `yaml:"type"` // A (default), AAAA, CNAME, MX, TXT, PTR, SRV, NS, SOA, ANY, …
	// Expect is answer | nxdomain | refused | no-answer (NOERROR, empty answer section) | blocked.
	Expect string `yaml:"expect"`
	// Contains, with expect answer, must match some answer record's data: an IP address is compared
	// as an address (198.18.1.1 does not match 198.18.1.10); other text is a case-insensitive substring.
	Contains string `yaml:"contains"`
}

var (
	dnsExpectations = []string{"answer", "nxdomain", "refused", "no-answer", "blocked"}
	dnsTransports   = []string{"udp", "tcp", "both"}
	// Meta and pseudo types are not questions a resolver answers in one message; zone transfers need
	// a multi-message exchange this probe does not make.
	dnsUnaskable = []uint16{dns.TypeNone, dns.TypeReserved, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY,
		dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB}
)

// dnsUDPSize is the EDNS0 buffer we advertise (DNS flag day 2020): large enough for most answers, small
// enough not to fragment.
const dnsUDPSize = 1232

// Check validates the parameters.
func (s *DNSSpec) Check(v *Validator) {
	v.Target("server", s.Server)
	if s.Port != 0 {
		v.Port("port", s.Port)
	}
	v.OneOf("transport", s.Transport, dnsTransports...)
	if len(s.Queries) == 0 {
		v.Errorf("queries", "no queries: list at least one {name, type, expect}")
	}
	for i, q := range s.Queries {
		field := func(f string) string { return fmt.Sprintf("queries[%d].%s", i, f) }
		qtype, ok := dns.StringToType[q.typeName()]
		switch {
		case !ok:
			v.Errorf(field("type"), "unknown record type %q: use A, AAAA, CNAME, MX, TXT, PTR, SRV, NS, SOA, ANY, …", q.Type)
		case slices.Contains(dnsUnaskable, qtype):
			v.Errorf(field("type"), "record type %q cannot be asked by the dns probe", q.Type)
		}
		if msg := dnsNameProblem(q.Name, qtype); msg != "" {
			v.Errorf(field("name"), "%s", msg)
		}
		v.Required(field("expect"), q.Expect != "")
		v.OneOf(field("expect"), q.Expect, dnsExpectations...)
		if q.Contains != "" && q.Expect != "answer" {
			v.Errorf(field("contains"), "contains only makes sense with expect: answer")
		}
	}
}

// dnsNameProblem explains what is wrong with a query name, or returns "".
func dnsNameProblem(name string, qtype uint16) string {
	if name == "" {
		return "missing required field \"name\""
	}
	if _, err := netip.ParseAddr(name); err == nil {
		if qtype == dns.TypePTR {
			return ""
		}
		return fmt.Sprintf("%q is an address, not a name: to look up its name use type PTR", name)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Sprintf("name %q contains spaces or control characters", name)
	}
	fq := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fq); ok && dns.IsFqdn(fq) {
		return ""
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(fq, "."), ".") {
		switch {
		case label == "" && fq != ".":
			return fmt.Sprintf("name %q has an empty label (two dots in a row, or a leading dot)", name)
		case len(label) > 63:
			return fmt.Sprintf("name %q has a label longer than 63 characters: %q", name, label)
		}
	}
	if len(fq) > 254 {
		return fmt.Sprintf("name %q is longer than 253 characters", name)
	}
	return fmt.Sprintf("name %q is not a valid domain name", name)
}

func (q DNSQuery) typeName() string {
	if q.Type == "" {
		return "A"
	}
	return strings.ToUpper(q.Type)
}

// question is the name and type put on the wire.
func (q DNSQuery) question() (string, uint16) {
	qtype := dns.StringToType[q.typeName()]
	name := q.Name
	if qtype == dns.TypePTR {
		if arpa, err := dns.ReverseAddr(name); err == nil {
			name = arpa
		}
	}
	return dns.Fqdn(name), qtype
}

// dnsLeg is one question asked over one transport.
type dnsLeg struct {
	q       DNSQuery
	network string
	status  Status
	reason  string // why it did not pass, without the name and transport
	ev      map[string]any
}

// Run asks every question over every transport, concurrently, and reports the worst outcome.
func (s *DNSSpec) Run(ctx context.Context, env *Env) Result {
	transport, port := s.Transport, s.Port
	if transport == "" {
		transport = "both"
	}
	if port == 0 {
		port = 53
	}
	addr, _, err := env.Addr(s.Server, port)
	ev := Evidence{"server": s.Server, "address": addr, "transport": transport}
	if err != nil {
		return Errored(ev, "%v", err)
	}
	networks := []string{transport}
	if transport == "both" {
		networks = []string{"udp", "tcp"}
	}
	timeout := s.Timeout.Or(env.Timeout)
	d := env.Dialer(timeout)

	var legs []*dnsLeg
	for _, q := range s.Queries {
		for _, n := range networks {
			legs = append(legs, &dnsLeg{q: q, network: n})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // a resolver under test is often production; do not flood it
	for _, l := range legs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			l.ask(ctx, d, addr, timeout)
		})
	}
	wg.Wait()

	v := newVerdict()
	entries := make([]map[string]any, len(legs))
	for i, l := range legs {
		entries[i] = l.ev
	}
	ev["queries"] = entries
	// Leaks and failures lead the summary; one line per query when every transport says the same.
	for _, st := range []Status{Fail, Error} {
		for i := 0; i < len(legs); i += len(networks) {
			group := legs[i : i+len(networks)]
			name, qtype := group[0].q.question()
			over := func(l *dnsLeg) string { return l.network }
			if len(group) == 2 && group[0].status == group[1].status && group[0].reason == group[1].reason {
				group, over = group[:1], func(*dnsLeg) string { return "udp+tcp" }
			}
			for _, l := range group {
				if l.status == st {
					v.add(st, "%s %s over %s: %s", name, dns.TypeToString[qtype], over(l), l.reason)
				}
			}
		}
	}
	return v.result(ev, fmt.Sprintf("%d %s met %s over %s at %s",
		len(s.Queries), dnsPlural(len(s.Queries), "query", "queries"),
		dnsPlural(len(s.Queries), "its expectation", "their expectations"), strings.Join(networks, " and "), addr))
}

// ask makes one exchange and judges it, filling l's status, reason and evidence.
func (l *dnsLeg) ask(ctx context.Context, d *Dialer, addr string, timeout time.Duration) {
	name, qtype := l.q.question()
	l.ev = map[string]any{"name": name, "type": dns.TypeToString[qtype], "transport": l.network,
		"expect": l.q.Expect, "answers": []string{}}
	if l.q.Contains != "" {
		l.ev["contains"] = l.q.Contains
	}
	m := new(dns.Msg).SetQuestion(name, qtype) // sets recursion desired
	m.SetEdns0(dnsUDPSize, false)

	r, rtt, err := dnsExchange(ctx, d, l.network, addr, m, timeout)
	var retryErr error
	if err == nil && r.Truncated && l.network == "udp" {
		// A truncated reply may leave records out, so what it lacks proves nothing; a stub resolver
		// would ask again over TCP, and so do we.
		l.ev["truncated"] = true
		var r2 *dns.Msg
		var rtt2 time.Duration
		if r2, rtt2, retryErr = dnsExchange(ctx, d, "tcp", addr, m, timeout); retryErr == nil {
			r, rtt = r2, rtt+rtt2
			l.ev["retried_over"] = "tcp"
		} else {
			l.ev["retry_error"] = retryErr.Error()
		}
	}
	defer func() { l.ev["status"] = l.status }()
	if err != nil {
		l.ev["error"] = err.Error()
		l.status, l.reason = Error, fmt.Sprintf("no usable response (%s): %v", Classify(err), err)
		if l.q.Expect != "answer" {
			l.reason += " — no reply is not proof that the name is blocked"
		}
		return
	}
	l.ev["rtt_ms"] = float64(rtt.Microseconds()) / 1000
	answers := make([]string, len(r.Answer))
	for i, rr := range r.Answer {
		answers[i] = strings.TrimPrefix(rr.String(), rr.Header().String())
	}
	l.ev["rcode"] = dnsRcode(r.Rcode)
	l.ev["answers"] = answers
	l.status, l.reason = dnsJudge(l.q, qtype, r, answers)
	// Without the retry only what the truncated reply shows can decide, never what it lacks: records seen
	// (a leak, or the answer wanted) and the rcode.
	seen := len(answers) > 0 && (l.q.Expect == "answer" && l.status == Pass || l.q.Expect != "answer" && l.status == Fail)
	if retryErr != nil && !seen && r.Rcode == dns.RcodeSuccess {
		l.status, l.reason = Error, fmt.Sprintf("UDP reply truncated and the TCP retry failed (%s): %v",
			Classify(retryErr), retryErr)
	}
}

// dnsExchange sends m over network through the scoped dialer, so the scope is checked on the socket itself.
func dnsExchange(ctx context.Context, d *Dialer, network, addr string, m *dns.Msg, timeout time.Duration) (*dns.Msg, time.Duration, error) {
	c := &dns.Client{Net: network, Dialer: d.NetDialer(), Timeout: timeout, UDPSize: dnsUDPSize}
	return c.ExchangeContext(ctx, m, addr)
}

// dnsJudge decides whether response r to q meets q's expectation.
func dnsJudge(q DNSQuery, qtype uint16, r *dns.Msg, answers []string) (Status, string) {
	rcode := dnsRcode(r.Rcode)
	if q.Expect == "answer" {
		if r.Rcode != dns.RcodeSuccess {
			return Fail, fmt.Sprintf("got %s, expected an answer", rcode)
		}
		if !slices.ContainsFunc(r.Answer, func(rr dns.RR) bool {
			return qtype == dns.TypeANY || rr.Header().Rrtype == qtype
		}) {
			return Fail, fmt.Sprintf("NOERROR without a %s record (answers %v), expected an answer", dns.TypeToString[qtype], answers)
		}
		if q.Contains != "" && !slices.ContainsFunc(answers, func(a string) bool { return dnsDataMatches(a, q.Contains) }) {
			return Fail, fmt.Sprintf("answers %v do not contain %q", answers, q.Contains)
		}
		return Pass, fmt.Sprintf("answered %v", answers)
	}
	if len(answers) > 0 {
		why := fmt.Sprintf("resolved to %v (%s), expected %s", answers, rcode, q.Expect)
		if q.Expect != "no-answer" {
			why += " — the name leaks through this resolver"
		}
		return Fail, why
	}
	var ok bool
	switch q.Expect {
	case "nxdomain":
		ok = r.Rcode == dns.RcodeNameError
	case "refused":
		ok = r.Rcode == dns.RcodeRefused
	case "no-answer":
		ok = r.Rcode == dns.RcodeSuccess
	case "blocked":
		ok = slices.Contains([]int{dns.RcodeNameError, dns.RcodeRefused, dns.RcodeServerFailure, dns.RcodeSuccess}, r.Rcode)
	}
	if !ok {
		return Fail, fmt.Sprintf("got %s, expected %s", rcode, q.Expect)
	}
	return Pass, rcode
}

// dnsDataMatches compares addresses as addresses, so 198.18.1.1 does not match 198.18.1.10, and anything
// else as a case-insensitive substring (MX "10 mail.hospital.test." contains "mail.hospital.test").
func dnsDataMatches(data, want string) bool {
	if got, err := netip.ParseAddr(data); err == nil {
		if w, err := netip.ParseAddr(want); err == nil {
			return got == w
		}
	}
	return strings.Contains(strings.ToLower(data), strings.ToLower(want))
}

func dnsRcode(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}

func dnsPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
