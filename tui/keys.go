package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the TUI answers to, with its help text. All stay enabled, so that a key pressed
// where it does not apply gets an explanation ("blockers cannot be waived") rather than silence; the
// help bar shows only the keys that act on the current screen and item.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Detail, Back                            key.Binding
	Rerun, RerunAll                         key.Binding
	Yes, No, NA                             key.Binding
	Waive, Sign, Value, Peer                key.Binding
	Lang, Help, Quit, Interrupt             key.Binding

	// Inside forms.
	Submit, Cancel, NextField, PrevField key.Binding
	Confirm, Deny                        key.Binding
}

// DefaultKeyMap returns the keys with help in lang.
func DefaultKeyMap(lang string) KeyMap {
	k := KeyMap{
		Up:        key.NewBinding(key.WithKeys("up", "k")),
		Down:      key.NewBinding(key.WithKeys("down", "j")),
		PageUp:    key.NewBinding(key.WithKeys("pgup", "ctrl+u")),
		PageDown:  key.NewBinding(key.WithKeys("pgdown", "ctrl+d")),
		Top:       key.NewBinding(key.WithKeys("home", "g")),
		Bottom:    key.NewBinding(key.WithKeys("end", "G")),
		Detail:    key.NewBinding(key.WithKeys("enter")),
		Back:      key.NewBinding(key.WithKeys("esc")),
		Rerun:     key.NewBinding(key.WithKeys("r")),
		RerunAll:  key.NewBinding(key.WithKeys("R")),
		Yes:       key.NewBinding(key.WithKeys("y")),
		No:        key.NewBinding(key.WithKeys("n")),
		NA:        key.NewBinding(key.WithKeys("a")),
		Waive:     key.NewBinding(key.WithKeys("w")),
		Sign:      key.NewBinding(key.WithKeys("s")),
		Value:     key.NewBinding(key.WithKeys("v")),
		Peer:      key.NewBinding(key.WithKeys("p")),
		Lang:      key.NewBinding(key.WithKeys("L")),
		Help:      key.NewBinding(key.WithKeys("?")),
		Quit:      key.NewBinding(key.WithKeys("q")),
		Interrupt: key.NewBinding(key.WithKeys("ctrl+c")),
		Submit:    key.NewBinding(key.WithKeys("enter")),
		Cancel:    key.NewBinding(key.WithKeys("esc")),
		NextField: key.NewBinding(key.WithKeys("tab", "down")),
		PrevField: key.NewBinding(key.WithKeys("shift+tab", "up")),
		Confirm:   key.NewBinding(key.WithKeys("y", "Y")),
		Deny:      key.NewBinding(key.WithKeys("n", "N", "esc")),
	}
	k.SetLang(lang)
	return k
}

// keyHelp is the help text of each binding: key label, then the description in English and Japanese.
var keyHelp = map[string][3]string{
	"up":        {"↑/k", "up", "上へ"},
	"down":      {"↓/j", "down", "下へ"},
	"pgup":      {"pgup", "page up", "前ページ"},
	"pgdown":    {"pgdn", "page down", "次ページ"},
	"top":       {"g", "first", "先頭"},
	"bottom":    {"G", "last", "末尾"},
	"detail":    {"enter", "detail", "詳細"},
	"back":      {"esc", "back", "戻る"},
	"rerun":     {"r", "re-run item", "項目を再実行"},
	"rerunall":  {"R", "re-run all", "すべて再実行"},
	"yes":       {"y", "yes", "はい"},
	"no":        {"n", "no", "いいえ"},
	"na":        {"a", "not applicable", "該当なし"},
	"waive":     {"w", "waive", "免除"},
	"sign":      {"s", "sign off", "署名"},
	"value":     {"v", "type version", "版を入力"},
	"peer":      {"p", "peer & joint verdict", "相手施設と判定"},
	"lang":      {"L", "日本語", "English"},
	"help":      {"?", "all keys", "全キー"},
	"quit":      {"q", "quit", "終了"},
	"interrupt": {"ctrl+c", "stop now (record kept)", "即時終了（記録は保存）"},
	"submit":    {"enter", "confirm", "確定"},
	"cancel":    {"esc", "cancel", "取消"},
	"nextfield": {"tab", "next field", "次の欄"},
	"prevfield": {"shift+tab", "previous field", "前の欄"},
	"confirm":   {"y", "yes", "はい"},
	"deny":      {"n", "no", "いいえ"},
}

// SetLang switches every help text to lang ("en" or "ja").
func (k *KeyMap) SetLang(lang string) {
	i := 1
	if lang == "ja" {
		i = 2
	}
	for name, b := range k.byName() {
		h := keyHelp[name]
		b.SetHelp(h[0], h[i])
	}
}

func (k *KeyMap) byName() map[string]*key.Binding {
	return map[string]*key.Binding{
		"up": &k.Up, "down": &k.Down, "pgup": &k.PageUp, "pgdown": &k.PageDown, "top": &k.Top, "bottom": &k.Bottom,
		"detail": &k.Detail, "back": &k.Back, "rerun": &k.Rerun, "rerunall": &k.RerunAll,
		"yes": &k.Yes, "no": &k.No, "na": &k.NA, "waive": &k.Waive, "sign": &k.Sign, "value": &k.Value, "peer": &k.Peer,
		"lang": &k.Lang, "help": &k.Help, "quit": &k.Quit, "interrupt": &k.Interrupt,
		"submit": &k.Submit, "cancel": &k.Cancel, "nextfield": &k.NextField, "prevfield": &k.PrevField,
		"confirm": &k.Confirm, "deny": &k.Deny,
	}
}

// ShortHelp is the common part of the help bar; the model adds the keys that act on the current item.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Detail, k.Sign, k.Lang, k.Help, k.Quit}
}

// FullHelp is the `?` screen, by column.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Detail, k.Back, k.Rerun, k.RerunAll, k.Waive, k.Value, k.Sign},
		{k.Yes, k.No, k.NA, k.Lang, k.Help, k.Quit, k.Interrupt},
	}
}
