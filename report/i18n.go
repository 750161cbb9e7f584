// Package report renders run records: plain text for a terminal, the JSON record, JUnit XML.
package report

import "github.com/telesurgery-preflight/preflight/checks"

// Langs are the languages of labels.
var Langs = []string{"en", "ja"}

var labels = map[string][2]string{ // key → {en, ja}
	"pass":         {"PASS", "合格"},
	"warn":         {"WARN", "注意"},
	"fail":         {"FAIL", "不合格"},
	"error":        {"ERROR", "判定不能"},
	"skipped":      {"SKIP", "対象外"},
	"pending":      {"WAIT", "未完了"},
	"go":           {"GO", "GO（実施可）"},
	"no-go":        {"NO-GO", "NO-GO（実施不可）"},
	"incomplete":   {"INCOMPLETE", "未完了"},
	"blocker":      {"blocker", "必須"},
	"warning":      {"warning", "警告"},
	"verdict":      {"Verdict", "判定"},
	"remedy":       {"Remedy", "対処"},
	"operation":    {"operation", "手術ID"},
	"run":          {"run", "実行ID"},
	"profile":      {"profile", "プロファイル"},
	"clock":        {"clock offset vs time server", "時刻サーバとの時刻差"},
	"blocking":     {"What blocks GO", "GOを妨げている項目"},
	"missing":      {"Waiting for", "未回答・未実施"},
	"waived":       {"waived", "免除"},
	"evidence":     {"evidence", "証跡"},
	"manual":       {"manual", "手動確認"},
	"patient-side": {"patient side", "現地施設（患者側）"},
	"surgeon-side": {"surgeon side", "遠隔施設（術者側）"},
	"summary":      {"%d passed · %d failed · %d error · %d waiting", "合格 %d · 不合格 %d · 判定不能 %d · 未完了 %d"},
}

// Label returns the label for key in lang ("en" or "ja"); unknown keys are returned as they are.
func Label(lang, key string) string {
	l, ok := labels[key]
	if !ok {
		return key
	}
	if lang == "ja" {
		return l[1]
	}
	return l[0]
}

// Glyph is the status symbol shown beside the status word (colour is never the only signal).
func Glyph(s checks.Status) string {
	switch s {
	case checks.Pass:
		return "✔"
	case checks.Warn:
		return "!"
	case checks.Fail:
		return "✘"
	case checks.Error:
		return "?"
	case checks.Skipped:
		return "–"
	}
	return "…"
}
