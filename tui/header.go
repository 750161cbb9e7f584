package tui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/telesurgery-preflight/preflight/checks"
)

// header is the two lines at the top: who and what this run is for (facility, role, operation, profile
// and its hash), and the clock with its measured offset when the profile has an ntp item.
type header struct {
	c     *common
	width int
}

func (h header) Update(tea.Msg) (header, tea.Cmd) { return h, nil }

func (h *header) SetSize(w, _ int) { h.width = w }

func (h header) View() string {
	c, st, rec := h.c, h.c.styles, h.c.sess.Record
	op := rec.OperationID
	if op == "" {
		op = c.t("no-operation")
	}
	right1 := c.t("operation") + " " + st.Bold.Render(op)
	left1 := st.Title.Render("preflight") + "  " + rec.Facility.Name.In(c.lang) + " · " + c.t(rec.Facility.Role)

	right2 := c.clock()
	if off := h.offset(); off != "" {
		right2 = off + " · " + right2
	}
	left2 := st.Dim.Render(c.t("profile") + " " + rec.Profile.Path + " " + short(rec.Profile.SHA256) + " · " + c.t("run") + " " + rec.RunID)
	return spread(left1, right1, h.width) + "\n" + spread(left2, right2, h.width)
}

// offset is the clock offset the first ntp item measured, or "" when the profile has none.
func (h header) offset() string {
	for _, it := range h.c.items() {
		if it.Kind != "ntp" {
			continue
		}
		ev := normalize(it.Evidence)
		switch {
		case ev["offset_ms"] != nil:
			return h.c.t("clock-offset", signedMS(ev["offset_ms"]))
		case it.Status == checks.Pending:
			return h.c.t("clock-unknown")
		}
		return h.c.t("clock-error", h.c.t(string(it.Status)))
	}
	return ""
}

// spread puts left and right on one line of w cells; the left part gives way when both do not fit.
func spread(left, right string, w int) string {
	rw := cellWidth(right)
	if rw+2 > w {
		return fit(left, w)
	}
	return pad(left, w-rw-1) + " " + right
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
