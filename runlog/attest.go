package runlog

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
)

// AttestEntry is one line of an answers file: the answer to a manual item, or a waiver of a failed
// warning-level item.
type AttestEntry struct {
	Answer   string `yaml:"answer"`   // yes | no | na
	Evidence string `yaml:"evidence"` // document ID, approver, ledger location …
	Waive    string `yaml:"waive"`    // reason, for a warning-level probe item that may fail
	Version  string `yaml:"version"`  // what the device shows, for a firmware item read by hand (method: manual)
	By       string `yaml:"by"`
}

// Attestations are the answers file of `run --no-tui --attest FILE`: item id → entry.
type Attestations struct {
	Path    string
	Entries map[string]*AttestEntry
	loc     *profiles.Locator
}

// LoadAttestations reads an answers file strictly and checks it against the profile: every id must be
// an item of the profile, answers go to manual items, waivers to warning-level probe items.
func LoadAttestations(path string, p *profiles.Profile) (*Attestations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read answers file: %w", err)
	}
	if len(data) > profiles.MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: is this really an answers file?", path, profiles.MaxSize)
	}
	a := &Attestations{Path: path}
	loc, err := profiles.DecodeStrict(path, data, &a.Entries)
	if err != nil {
		return nil, err
	}
	a.loc = loc
	items := map[string]*profiles.Item{}
	for _, it := range p.Items() {
		items[it.ID] = it
	}
	var errs profiles.ErrorList
	ids := make([]string, 0, len(a.Entries))
	for id := range a.Entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e, it := a.Entries[id], items[id]
		at := loc.Key(&a.Entries, id)
		switch {
		case it == nil:
			errs.Add(at, "no item %q in profile %s: check the id (preflight validate lists them)", id, p.Path)
		case e == nil || (e.Answer == "" && e.Waive == "" && e.Version == ""):
			errs.Add(at, "item %q: give answer: yes|no|na (manual items), version: \"…\" (firmware read by hand) or waive: REASON (warning-level probe items)", id)
		case e.Version != "" && !takesInput(it):
			errs.Add(loc.At(e, "version"), "item %q does not take a typed-in version (only firmware items with source method manual do)", id)
		case e.Answer != "" && it.Manual == nil:
			errs.Add(at, "item %q is a %s probe, not a manual item: it cannot be answered, only waived (warning level) or fixed", id, it.Kind())
		case e.Answer != "" && !slices.Contains([]string{Yes, No, NA}, e.Answer):
			errs.Add(loc.At(e, "answer"), "item %q: answer %q: write yes, no or na", id, e.Answer)
		case e.Answer == Yes && it.Manual.Evidence == "required" && e.Evidence == "":
			errs.Add(at, "item %q: evidence is required with yes: record %s", id, orDefault(it.Manual.Hint.En, "a document ID, approver or ledger location"))
		case e.Waive != "" && it.Severity != profiles.Warning:
			errs.Add(loc.At(e, "waive"), "item %q is a blocker: blockers cannot be waived", id)
		}
	}
	errs.Sort()
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// takesInput reports whether a probe item asks the operator to type in what a device shows.
func takesInput(it *profiles.Item) bool {
	if it.Probe == nil {
		return false
	}
	a, ok := it.Probe.Spec.(checks.Attestable)
	return ok && a.Prompt() != ""
}

// Apply passes the answers, and the waivers of items in r that failed, to answer and waive (the session's
// methods, so that each lands in the journal too).
func (a *Attestations) Apply(r *Record, answer func(string, Answer) error, attest func(id, input, by string) error, waive func(Waiver) error, now time.Time) error {
	ids := make([]string, 0, len(a.Entries))
	for id := range a.Entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := a.Entries[id]
		if e.Answer != "" {
			if err := answer(id, Answer{Answer: e.Answer, Evidence: e.Evidence, By: e.By, At: now.UTC()}); err != nil {
				return err
			}
		}
		if e.Version != "" {
			if err := attest(id, e.Version, e.By); err != nil {
				return err
			}
		}
		if e.Waive != "" && needsWaiver(r.Item(id)) {
			if err := waive(Waiver{Item: id, Reason: e.Waive, By: e.By, At: now.UTC()}); err != nil {
				return err
			}
		}
	}
	return nil
}
