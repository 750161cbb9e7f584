package checks

import (
	"math"
	"slices"
	"time"
)

// pingStats are the link-quality figures of one echo series.
type pingStats struct {
	sent       int // echo requests attempted, including those the kernel refused to send
	received   int // replies within the timeout, one per sequence number
	late       int // replies after the timeout: lost for quality, but proof of reachability
	duplicates int
	sendErrors int
	sendErr    error
	lossPct    float64
	rtts       []time.Duration // on-time replies in sequence (sending) order
	samples    []any           // per request in sequence order: RTT in ms, or nil when lost or late

	p50, p95, p99, min, max time.Duration
	jitter                  time.Duration
	hasJitter               bool // two or more replies
}

// pingStatistics computes loss, nearest-rank RTT percentiles and jitter from a report. Jitter is the mean
// absolute difference of consecutive RTTs — the instantaneous difference D(i-1,i) that RFC 3550 (§6.4.1)
// smooths with gain 1/16, here unsmoothed because a short series must not hide its spikes. Consecutive
// means consecutive among the replies in sending order; a lost request in between is skipped.
func pingStatistics(rep PingReport, timeout time.Duration) pingStats {
	st := pingStats{sent: rep.Sent + rep.SendErrors, sendErrors: rep.SendErrors, sendErr: rep.SendErr,
		duplicates: rep.Duplicates}
	bySeq := map[int]time.Duration{}
	for _, r := range rep.Replies {
		if _, dup := bySeq[r.Seq]; dup {
			st.duplicates++
			continue
		}
		bySeq[r.Seq] = r.RTT
	}
	last := max(rep.Sent-1, 0)
	for seq := range bySeq {
		last = max(last, seq)
	}
	for seq := 0; seq <= last && (rep.Sent > 0 || len(bySeq) > 0); seq++ {
		rtt, ok := bySeq[seq]
		switch {
		case !ok:
			st.addSample(nil)
		case rtt > timeout:
			st.late++
			st.addSample(nil)
		default:
			st.rtts = append(st.rtts, rtt)
			st.addSample(evidenceMS(rtt))
		}
	}
	st.received = len(st.rtts)
	st.sent = max(st.sent, st.received+st.late)
	if st.sent > 0 {
		st.lossPct = float64(st.sent-st.received) / float64(st.sent) * 100
	}
	if st.received == 0 {
		return st
	}
	sorted := slices.Clone(st.rtts)
	slices.Sort(sorted)
	st.p50, st.p95, st.p99 = nearestRank(sorted, 50), nearestRank(sorted, 95), nearestRank(sorted, 99)
	st.min, st.max = sorted[0], sorted[len(sorted)-1]
	if len(st.rtts) >= 2 {
		var sum time.Duration
		for i := 1; i < len(st.rtts); i++ {
			d := st.rtts[i] - st.rtts[i-1]
			sum += max(d, -d)
		}
		st.jitter, st.hasJitter = sum/time.Duration(len(st.rtts)-1), true
	}
	return st
}

func (st *pingStats) addSample(v any) {
	if len(st.samples) < icmpMaxSamples {
		st.samples = append(st.samples, v)
	}
}

// nearestRank is the p-th percentile by the nearest-rank method: always a value that was measured.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// fill writes the statistics under the evidence keys of DESIGN.md; figures that cannot be computed from
// the replies are null rather than zero, so a reviewer never reads "0 ms" for "no data".
func (st pingStats) fill(ev Evidence) {
	ev["sent"], ev["received"] = st.sent, st.received
	ev["loss_pct"] = math.Round(st.lossPct*100) / 100
	ev["rtt_ms"], ev["jitter_ms"] = nil, nil
	if st.received > 0 {
		ev["rtt_ms"] = map[string]float64{"p50": evidenceMS(st.p50), "p95": evidenceMS(st.p95), "p99": evidenceMS(st.p99),
			"max": evidenceMS(st.max), "min": evidenceMS(st.min)}
	}
	if st.hasJitter {
		ev["jitter_ms"] = evidenceMS(st.jitter)
	}
	samples := st.samples
	if samples == nil {
		samples = []any{}
	}
	ev["samples_ms"] = samples
	if st.sent > len(samples) {
		ev["samples_truncated"] = true
	}
	ev["late"], ev["duplicates"], ev["send_errors"] = st.late, st.duplicates, st.sendErrors
	if st.sendErr != nil {
		ev["send_error"] = st.sendErr.Error()
	}
}
