package runlog

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// Diff is what changed between two runs — the first question of an incident review: which items
// flipped, which ports opened, which TLS versions or firmware versions changed.
type Diff struct {
	A, B           *Record
	ProfileChanged bool
	Flipped        []ItemChange
	OnlyA, OnlyB   []*ItemResult
	Ports          []PortChange
	Evidence       []EvidenceChange
	WaiversAdded   []Waiver
	WaiversDropped []Waiver
}

// ItemChange is an item whose status differs.
type ItemChange struct {
	A, B *ItemResult
}

// PortChange lists the ports of a ports item that opened or closed between the runs.
type PortChange struct {
	Item           string
	Opened, Closed []int
}

// EvidenceChange is one flat evidence value (a scalar or a list of scalars) that differs.
type EvidenceChange struct {
	Item, Key, From, To string
}

// volatile evidence keys change on every run (timings, local ports, countdowns) and are not compared.
var volatile = map[string]bool{"rtt_ms": true, "jitter_ms": true, "local": true, "days_left": true,
	"duration_ms": true, "offset_ms": true, "scanned": true, "limits": true}

// Compare computes the difference from run a to run b.
func Compare(a, b *Record) *Diff {
	d := &Diff{A: a, B: b, ProfileChanged: a.Profile.SHA256 != b.Profile.SHA256}
	for _, ia := range a.Items {
		ib := b.Item(ia.ID)
		if ib == nil {
			d.OnlyA = append(d.OnlyA, ia)
			continue
		}
		if ia.Status != ib.Status {
			d.Flipped = append(d.Flipped, ItemChange{ia, ib})
		}
		if pc := portChange(ia, ib); pc != nil {
			d.Ports = append(d.Ports, *pc)
		}
		d.Evidence = append(d.Evidence, evidenceChanges(ia, ib)...)
	}
	for _, ib := range b.Items {
		if a.Item(ib.ID) == nil {
			d.OnlyB = append(d.OnlyB, ib)
		}
	}
	key := func(w Waiver) string { return w.Item + "\x00" + w.Reason }
	for _, w := range b.Waivers {
		if !slices.ContainsFunc(a.Waivers, func(x Waiver) bool { return key(x) == key(w) }) {
			d.WaiversAdded = append(d.WaiversAdded, w)
		}
	}
	for _, w := range a.Waivers {
		if !slices.ContainsFunc(b.Waivers, func(x Waiver) bool { return key(x) == key(w) }) {
			d.WaiversDropped = append(d.WaiversDropped, w)
		}
	}
	return d
}

func portChange(a, b *ItemResult) *PortChange {
	if a.Kind != "ports" || b.Kind != "ports" {
		return nil
	}
	pa, oka := ints(a.Evidence["open"])
	pb, okb := ints(b.Evidence["open"])
	if !oka || !okb {
		return nil
	}
	pc := &PortChange{Item: a.ID}
	for _, p := range pb {
		if !slices.Contains(pa, p) {
			pc.Opened = append(pc.Opened, p)
		}
	}
	for _, p := range pa {
		if !slices.Contains(pb, p) {
			pc.Closed = append(pc.Closed, p)
		}
	}
	if len(pc.Opened)+len(pc.Closed) == 0 {
		return nil
	}
	return pc
}

func ints(v any) ([]int, bool) {
	switch x := v.(type) {
	case []int:
		return x, true
	case []any:
		out := make([]int, 0, len(x))
		for _, e := range x {
			f, ok := e.(float64)
			if !ok {
				return nil, false
			}
			out = append(out, int(f))
		}
		return out, true
	}
	return nil, false
}

func evidenceChanges(a, b *ItemResult) []EvidenceChange {
	keys := map[string]bool{}
	for k := range a.Evidence {
		keys[k] = true
	}
	for k := range b.Evidence {
		keys[k] = true
	}
	var out []EvidenceChange
	for k := range keys {
		if volatile[k] || (k == "open" && a.Kind == "ports") {
			continue
		}
		va, fa := flatJSON(a.Evidence[k])
		vb, fb := flatJSON(b.Evidence[k])
		if (fa || fb) && va != vb {
			out = append(out, EvidenceChange{Item: a.ID, Key: k, From: va, To: vb})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// flatJSON renders a scalar or a list of scalars as compact JSON; other values are not compared.
func flatJSON(v any) (string, bool) {
	if v == nil {
		return "—", false
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				return "", false
			}
		}
	case map[string]any:
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v), true
	}
	return string(b), true
}

// Unchanged reports whether nothing a reviewer would look at changed.
func (d *Diff) Unchanged() bool {
	return d.A.Verdict == d.B.Verdict && !d.ProfileChanged && len(d.Flipped)+len(d.OnlyA)+len(d.OnlyB)+len(d.Ports)+
		len(d.Evidence)+len(d.WaiversAdded)+len(d.WaiversDropped) == 0
}
