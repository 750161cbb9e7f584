package checks

import (
	"context"
	"net"
	"strconv"
)

// ConnectSpec makes one TCP connection attempt and checks how it ends. "closed" accepts any outcome but
// open — the isolation form: the target must not be reachable on that port from here.
type ConnectSpec struct {
	Target  string   `yaml:"target"`
	Port    int      `yaml:"port"`
	Expect  string   `yaml:"expect"` // open | closed | refused | timeout | unreachable | no-route
	Timeout Duration `yaml:"timeout"`
}

var connectExpectations = []string{"open", "closed", "refused", "timeout", "unreachable", "no-route"}

// Check validates the parameters.
func (s *ConnectSpec) Check(v *Validator) {
	v.Target("target", s.Target)
	v.Port("port", s.Port)
	v.Required("expect", s.Expect != "")
	v.OneOf("expect", s.Expect, connectExpectations...)
}

// Run connects once.
func (s *ConnectSpec) Run(ctx context.Context, env *Env) Result {
	addr, _, err := env.Addr(s.Target, s.Port)
	ev := Evidence{"target": s.Target, "address": addr, "port": s.Port, "expect": s.Expect}
	if err != nil {
		return Errored(ev, "%v", err)
	}
	conn, err := env.Dialer(s.Timeout.D()).DialContext(ctx, "tcp", addr)
	outcome := Classify(err)
	ev["outcome"] = outcome
	if err != nil {
		ev["error"] = err.Error()
	} else {
		ev["local"] = conn.LocalAddr().String()
		conn.Close()
	}
	switch outcome {
	case "open", "refused", "timeout", "unreachable", "no-route", "prohibited":
	default:
		return Errored(ev, "could not decide: %v", err)
	}
	if ctx.Err() != nil {
		return Errored(ev, "could not decide: %s", stopReason(ctx))
	}
	ok := outcome == s.Expect || (s.Expect == "closed" && outcome != "open")
	if ok {
		return Passed(ev, "%s: %s, as expected", addr, outcome)
	}
	return Failed(ev, "%s: %s, expected %s", addr, outcome, s.Expect)
}

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
