package tui

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/report"
)

// field is one line of rendered evidence: a label and its value (which may wrap).
type field struct{ label, value string }

// evidenceFields renders a probe's evidence for a person: the keys DESIGN.md names first, in words
// (open ports, TLS versions accepted, matched advisories, RTT percentiles, DNS answers), then every
// other key as it was recorded, so nothing a reviewer may need is hidden. Evidence is first passed
// through JSON, so what is shown is exactly what the run record keeps.
func evidenceFields(kind string, raw checks.Evidence, lang string) []field {
	ev := normalize(raw)
	if len(ev) == 0 {
		return nil
	}
	used := map[string]bool{"stack": true}
	take := func(k string) (any, bool) {
		v, ok := ev[k]
		if ok {
			used[k] = true
		}
		return v, ok && v != nil
	}
	var out []field
	add := func(label string, v string) {
		if v != "" {
			out = append(out, field{label, v})
		}
	}
	l := func(en, ja string) string {
		if lang == "ja" {
			return ja
		}
		return en
	}
	switch kind {
	case "ports":
		if v, ok := take("unexpected"); ok {
			add(l("unexpected open", "許可外で開放"), orNone(list(v), lang))
		}
		if v, ok := take("open"); ok {
			add(l("open ports", "開いているポート"), orNone(list(v), lang))
		}
		if v, ok := take("allow"); ok {
			add(l("allowed", "許可"), orNone(list(v), lang))
		}
		if v, ok := take("scanned"); ok {
			p, _ := take("ports")
			r, _ := take("refused")
			f, _ := take("filtered")
			u, _ := take("unreachable")
			add(l("scanned", "スキャン"), fmt.Sprintf(l("%s ports (%s) · refused %s · filtered %s · unreachable %s",
				"%s ポート（%s）・拒否 %s・フィルタ %s・到達不能 %s"), scalar(v), scalar(p), scalar(r), scalar(f), scalar(u)))
		}
	case "connect":
		if v, ok := take("outcome"); ok {
			e, _ := take("expect")
			add(l("outcome", "結果"), fmt.Sprintf("%s (%s %s)", scalar(v), l("expected", "期待"), scalar(e)))
		}
	case "tls":
		out = append(out, tlsFields(take, l)...)
	case "dns":
		if v, ok := take("queries"); ok {
			for _, q := range maps(v) {
				g := report.Glyph(checks.Status(str(q["status"])))
				line := fmt.Sprintf("%s %s %s/%s → %s", g, str(q["name"]), str(q["type"]), str(q["transport"]), str(q["rcode"]))
				if ans := list(q["answers"]); ans != "" {
					line += " " + ans
				}
				line += fmt.Sprintf(" (%s %s", l("expected", "期待"), str(q["expect"]))
				if rtt, ok := q["rtt_ms"]; ok {
					line += ", " + scalar(rtt) + " ms"
				}
				line += ")"
				if e := str(q["error"]); e != "" {
					line += " — " + e
				}
				add(l("query", "問い合わせ"), line)
			}
		}
	case "icmp":
		if v, ok := take("sent"); ok {
			r, _ := take("received")
			add(l("echo replies", "応答"), fmt.Sprintf("%s / %s", scalar(r), scalar(v)))
		}
		if v, ok := take("rtt_ms"); ok {
			if m, isMap := v.(map[string]any); isMap {
				var parts []string
				for _, p := range []string{"p50", "p95", "p99", "max"} {
					if x, ok := m[p]; ok {
						parts = append(parts, p+" "+scalar(x)+" ms")
					}
				}
				add("RTT", strings.Join(parts, " · "))
			}
		}
		if v, ok := take("jitter_ms"); ok {
			add(l("jitter", "ジッタ"), scalar(v)+" ms")
		}
	case "firmware":
		if v, ok := take("version"); ok {
			add(l("version", "版"), scalar(v))
		}
		if v, ok := take("advisories"); ok {
			add(l("advisories", "該当する脆弱性"), orNone(list(v), lang))
		}
	case "ntp":
		if v, ok := take("offset_ms"); ok {
			add(l("clock offset", "時刻ずれ"), signedMS(v))
		}
	}
	// Every other key, as recorded.
	keys := make([]string, 0, len(ev))
	for k := range ev {
		if !used[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, genericFields(keyLabel(k, lang), ev[k])...)
	}
	return out
}

// keyLabels name the evidence keys many probes share; any other key is shown as recorded.
var keyLabels = map[string][2]string{
	"address": {"address", "アドレス"}, "target": {"target", "対象"}, "port": {"port", "ポート"},
	"error": {"error", "エラー"}, "server": {"server", "サーバ"}, "local": {"local address", "送信元"},
	"expect": {"expected", "期待"}, "rtt_ms": {"RTT (ms)", "RTT（ms）"}, "stratum": {"stratum", "stratum"},
	"policy": {"policy", "ポリシー"}, "min_version": {"minimum version", "最低バージョン"},
	"limits": {"not testable", "検査できない範囲"}, "transport": {"transport", "トランスポート"},
	"ports": {"ports scanned", "スキャン範囲"}, "max_rate": {"max rate (/s)", "最大速度（/秒）"},
	"days_left": {"days left", "残り日数"}, "not_after": {"not after", "有効期限"},
	"chain_verified": {"chain verified", "証明書チェーン検証"}, "client_cert_requested": {"client cert requested", "クライアント証明書要求"},
	"accepted_versions": {"versions accepted", "受け入れる版"}, "weak_suites_accepted": {"weak suites accepted", "受け入れる弱い暗号"},
	"require_client_cert": {"client cert required", "クライアント証明書必須"}, "forbid_weak_ciphers": {"weak suites forbidden", "弱い暗号を禁止"},
	"not_before": {"not before", "有効開始"}, "panic": {"crash", "異常終了"},
}

func keyLabel(k, lang string) string {
	if l, ok := keyLabels[k]; ok {
		if lang == "ja" {
			return l[1]
		}
		return l[0]
	}
	return k
}

func tlsFields(take func(string) (any, bool), l func(en, ja string) string) []field {
	var out []field
	add := func(label, v string) {
		if v != "" {
			out = append(out, field{label, v})
		}
	}
	if v, ok := take("accepted_versions"); ok {
		add(l("versions accepted", "受け入れる版"), orNone(list(v), "en"))
	}
	if v, ok := take("versions"); ok {
		if m, isMap := v.(map[string]any); isMap {
			vers := make([]string, 0, len(m))
			for k := range m {
				vers = append(vers, k)
			}
			slices.Sort(vers)
			for _, ver := range vers {
				d, _ := m[ver].(map[string]any)
				line := str(d["outcome"])
				if cs := str(d["cipher_suite"]); cs != "" {
					line += " · " + cs
				}
				add("  TLS "+ver, line)
			}
		}
	}
	if v, ok := take("weak_suites_accepted"); ok {
		add(l("weak suites accepted", "受け入れる弱い暗号"), orNone(list(v), "en"))
	}
	if v, ok := take("client_cert_requested"); ok {
		add(l("client cert requested", "クライアント証明書要求"), yesNo(v, l))
	}
	if v, ok := take("chain_verified"); ok {
		s := yesNo(v, l)
		if e, _ := take("chain_error"); str(e) != "" {
			s += " — " + str(e)
		}
		add(l("chain verified", "証明書チェーン検証"), s)
	}
	if v, ok := take("not_after"); ok {
		d, _ := take("days_left")
		add(l("certificate expires", "証明書の有効期限"), fmt.Sprintf("%s (%s %s)", str(v), scalar(d), l("days left", "日")))
	}
	for _, k := range []struct{ key, en, ja string }{
		{"subject", "subject", "サブジェクト"}, {"issuer", "issuer", "発行者"}, {"sans", "names (SAN)", "名前（SAN）"},
		{"server_name", "server name", "サーバ名"},
	} {
		if v, ok := take(k.key); ok {
			add(l(k.en, k.ja), scalar(v))
		}
	}
	return out
}

// genericFields renders one evidence key of any shape: scalars and lists of scalars on one line, maps
// and lists of maps one entry per line.
func genericFields(k string, v any) []field {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for kk := range x {
			keys = append(keys, kk)
		}
		slices.Sort(keys)
		var out []field
		for _, kk := range keys {
			out = append(out, field{k + "." + kk, scalar(x[kk])})
		}
		return out
	case []any:
		if ms := maps(x); len(ms) == len(x) && len(x) > 0 {
			var out []field
			for _, m := range ms {
				out = append(out, field{k, scalar(m)})
			}
			return out
		}
	}
	return []field{{k, scalar(v)}}
}

func normalize(ev checks.Evidence) map[string]any {
	if len(ev) == 0 {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return map[string]any{"unreadable": err.Error()}
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return map[string]any{"unreadable": err.Error()}
	}
	return out
}

// scalar renders a JSON value on one line.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return list(x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+scalar(x[k]))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprint(v)
}

func list(v any) string {
	xs, ok := v.([]any)
	if !ok {
		return scalar(v)
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = scalar(x)
	}
	return strings.Join(parts, " ")
}

func maps(v any) []map[string]any {
	xs, _ := v.([]any)
	var out []map[string]any
	for _, x := range xs {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return scalar(v)
}

func orNone(s, lang string) string {
	if s == "" {
		return tr(lang, "none")
	}
	return s
}

func yesNo(v any, l func(en, ja string) string) string {
	if b, ok := v.(bool); ok {
		if b {
			return l("yes", "はい")
		}
		return l("no", "いいえ")
	}
	return scalar(v)
}

// signedMS renders a millisecond offset with its sign, e.g. "+3.2 ms".
func signedMS(v any) string {
	f, ok := v.(float64)
	if !ok {
		return scalar(v)
	}
	return fmt.Sprintf("%+.1f ms", f)
}
