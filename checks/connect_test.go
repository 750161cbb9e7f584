package checks

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestConnect(t *testing.T) {
	l := listen(t)
	countAccepts(t, l)
	open := portOf(l)
	// A port that was just free: bind and close a listener to find one nothing listens on.
	tmp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := portOf(tmp)
	tmp.Close()
	env := loopbackEnv(t, map[string]Target{"host": loopback})
	for _, tc := range []struct {
		port        int
		expect      string
		want        Status
		wantOutcome string
	}{
		{open, "open", Pass, "open"},
		{open, "closed", Fail, "open"},
		{closed, "closed", Pass, "refused"},
		{closed, "refused", Pass, "refused"},
		{closed, "open", Fail, "refused"},
		{closed, "timeout", Fail, "refused"},
	} {
		r := (&ConnectSpec{Target: "host", Port: tc.port, Expect: tc.expect}).Run(context.Background(), env)
		if r.Status != tc.want || r.Evidence["outcome"] != tc.wantOutcome {
			t.Errorf("port %d expect %s: %s / %v (%s), want %s / %s", tc.port, tc.expect, r.Status,
				r.Evidence["outcome"], r.Summary, tc.want, tc.wantOutcome)
		}
	}
	t.Run("unanswered SYN is a timeout", func(t *testing.T) {
		port := fullBacklog(t)
		for expect, want := range map[string]Status{"timeout": Pass, "closed": Pass, "open": Fail} {
			r := (&ConnectSpec{Target: "host", Port: port, Expect: expect, Timeout: Duration(150 * time.Millisecond)}).Run(context.Background(), env)
			if r.Status != want || r.Evidence["outcome"] != "timeout" {
				t.Errorf("expect %s: %s / %v (%s), want %s / timeout", expect, r.Status, r.Evidence["outcome"], r.Summary, want)
			}
		}
	})
	t.Run("unknown target is an error", func(t *testing.T) {
		r := (&ConnectSpec{Target: "nope", Port: open, Expect: "closed"}).Run(context.Background(), env)
		if r.Status != Error {
			t.Fatalf("status %s", r.Status)
		}
	})
	t.Run("cancelled is an error even for expect closed", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := (&ConnectSpec{Target: "host", Port: closed, Expect: "closed"}).Run(ctx, env)
		if r.Status != Error {
			t.Fatalf("status %s (%s): a cancelled attempt proves nothing", r.Status, r.Summary)
		}
	})
}
