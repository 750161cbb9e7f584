package tui

import (
	"fmt"

	"github.com/telesurgery-preflight/preflight/report"
)

// texts are the TUI's own labels, {en, ja}. Status words, verdicts, roles and severities come from
// report.Label so that the checklist and the printed report never disagree.
var texts = map[string][2]string{
	// header
	"operation":     {"operation", "手術ID"},
	"no-operation":  {"(no operation ID)", "（手術IDなし）"},
	"profile":       {"profile", "プロファイル"},
	"clock-offset":  {"clock offset %s (ntp)", "時刻ずれ %s（NTP）"},
	"clock-unknown": {"clock offset not measured yet", "時刻ずれ 未測定"},
	"clock-error":   {"clock offset unknown (ntp %s)", "時刻ずれ 不明（NTP %s）"},

	// status words the report does not have
	"running": {"RUN", "実行中"},
	"queued":  {"WAIT", "待機"},
	"ask":     {"ASK", "要回答"},
	"waived":  {"WAIVED", "免除"},
	"na":      {"N/A", "該当なし"},

	// counts and progress
	"count-done":    {"%d/%d done", "%d/%d 完了"},
	"count-passed":  {"%d passed", "合格 %d"},
	"count-failed":  {"%d failed", "不合格 %d"},
	"count-error":   {"%d error", "判定不能 %d"},
	"count-waived":  {"%d waived", "免除 %d"},
	"count-you":     {"%d waiting for you", "要回答 %d"},
	"count-running": {"%d running", "実行中 %d"},

	// verdict banner
	"go-line":         {"every blocker passed · every manual item answered", "必須項目はすべて合格・手動確認はすべて回答済み"},
	"go-waivers":      {"waivers in force: %s", "適用中の免除: %s"},
	"go-sign":         {"press s to sign off", "s で署名"},
	"nogo-line":       {"%d item(s) block GO", "GOを妨げる項目 %d件"},
	"incomplete-line": {"not decided yet", "未確定"},
	"blocks":          {"blocks: %s", "妨げ: %s"},
	"waiting-for":     {"waiting for: %s", "未完了: %s"},
	"answers-missing": {"%d answer(s) missing", "未回答 %d件"},
	"probes-running":  {"%d probe(s) running", "実行中 %d件"},
	"more":            {"+%d more", "他%d件"},

	// detail pane
	"checked":           {"What was checked", "確認した内容"},
	"passes-when":       {"passes when %s", "合格条件: %s"},
	"result":            {"Result", "結果"},
	"evidence":          {"Evidence", "証跡"},
	"why":               {"Why it matters", "理由"},
	"remedy":            {"Remedy", "対処"},
	"question":          {"Question", "質問"},
	"answer":            {"Answer", "回答"},
	"no-answer":         {"not answered yet — y yes · n no · a not applicable", "未回答 — y はい · n いいえ · a 該当なし"},
	"evidence-required": {"evidence required with yes", "「はい」には証跡が必須"},
	"evidence-optional": {"evidence optional", "証跡は任意"},
	"record-hint":       {"record: %s", "記録するもの: %s"},
	"waiver":            {"Waiver", "免除"},
	"waivable":          {"warning level: fix it, or waive it for this operation with w and a reason", "警告レベル: 修正するか、w と理由でこの手術に限り免除"},
	"not-waivable":      {"blocker: cannot be waived — fix the network and re-run it with r", "必須項目: 免除できません — ネットワークを修正し r で再実行"},
	"attempts":          {"run %d×, %s", "実行 %d回・%s"},
	"no-evidence":       {"(none recorded)", "（記録なし）"},
	"nothing-selected":  {"no item selected", "項目が選択されていません"},
	"more-below":        {"more below: j / pgdn", "続きあり: j / pgdn"},
	"yes-word":          {"yes", "はい"},
	"no-word":           {"no", "いいえ"},

	// forms
	"answer-title":     {"Answer: %s", "回答: %s"},
	"answer-yes":       {"YES", "はい"},
	"answer-no":        {"NO", "いいえ"},
	"answer-na":        {"NOT APPLICABLE", "該当なし"},
	"evidence-field":   {"Evidence (document ID, approver, ledger location)", "証跡（文書番号・承認者・台帳の場所）"},
	"note-field":       {"Note (optional)", "メモ（任意）"},
	"evidence-needed":  {"evidence is required for yes — record %s", "「はい」には証跡が必要です — %s を記録"},
	"default-hint":     {"a document ID, approver or ledger location", "文書番号・承認者・台帳の場所"},
	"form-keys":        {"enter confirm · esc cancel", "enter 確定 · esc 取消"},
	"waive-title":      {"Waive a failed warning-level item", "不合格の警告項目を免除"},
	"value-title":      {"Type what the device shows", "機器の表示内容を入力"},
	"value-field":      {"Version, exactly as displayed (recorded as attested by you)", "表示どおりの版（あなたの確認として記録）"},
	"value-needed":     {"type the version shown on the device", "機器に表示された版を入力してください"},
	"reason-field":     {"Reason (why this is acceptable for this operation)", "理由（この手術で許容できる理由）"},
	"reason-needed":    {"a waiver needs a reason", "免除には理由が必要です"},
	"sign-title":       {"Sign-off", "署名"},
	"name-field":       {"Printed name", "氏名（楷書）"},
	"role-field":       {"Role (e.g. network engineer on duty)", "役割（例: 当番のネットワーク担当）"},
	"statement":        {"Statement you sign", "署名する文言（記録される英文）"},
	"statement-ja":     {"", "（参考訳）手術 %s・施設 %s（%s）のネットワーク準備を%s（実行 %s）"},
	"confirmed-ja":     {"", "確認しました"},
	"not-confirmed-ja": {"", "確認できていません"},
	"verdict-now":      {"Verdict", "判定"},
	"waivers-included": {"Waivers included", "含まれる免除"},
	"none":             {"none", "なし"},
	"sign-keys":        {"enter sign and write the record · tab next field · esc cancel", "enter 署名して記録 · tab 次の欄 · esc 取消"},
	"sign-nogo":        {"This run is not GO: signing records that readiness is NOT confirmed.", "この実行はGOではありません: 署名すると「準備未確認」として記録されます。"},
	"sign-needs":       {"enter your printed name and role", "氏名と役割を入力してください"},
	"saved-title":      {"Record written", "記録を保存しました"},
	"saving":           {"writing the record…", "記録を書き込み中…"},
	"where":            {"File", "ファイル"},
	"hash":             {"record SHA-256 (preflight log verify checks it)", "記録のSHA-256（preflight log verify で検証）"},
	"signed-by":        {"Signed by %s (%s) at %s", "%s（%s）が %s に署名"},
	"not-kept":         {"Signed, but this record is not kept: no log directory was given (start with --log-dir DIR to keep it).", "署名しましたが、保存先が指定されていないため記録は残りません（--log-dir DIR で保存）。"},
	"save-failed":      {"Could not write the record: %v", "記録を書き込めませんでした: %v"},
	"save-retry":       {"enter retry · q quit (writing is tried again on exit)", "enter 再試行 · q 終了（終了時にも再試行）"},
	"saved-keys":       {"q quit · L language", "q 終了 · L 言語"},
	"quit-title":       {"Quit without signing?", "署名せずに終了しますか？"},
	"quit-body":        {"The record is saved marked interrupted, with every answer given so far, but it is not signed.", "これまでの回答を含めて「中断」として記録を保存しますが、署名はされません。"},
	"quit-not-kept":    {"No log directory was given: this demo's record will not be kept.", "保存先が指定されていないため、このデモの記録は残りません。"},
	"quit-keys":        {"y quit · n stay", "y 終了 · n 戻る"},
	"help-title":       {"Keys", "キー操作"},
	"help-close":       {"? or esc closes this help", "? または esc でヘルプを閉じる"},
	"msg-blocker":      {"Blockers cannot be waived: fix %s, then re-run it (r)", "必須項目は免除できません: %s を修正して再実行（r）"},
	"msg-not-waivable": {"%s shows %s: only a failed warning-level item can be waived", "%s は「%s」です: 免除できるのは不合格の警告項目のみです"},
	"msg-already":      {"%s is already waived", "%s は免除済みです"},
	"msg-not-manual":   {"%s is a probe: it is run (r), not answered", "%s はプローブです: 回答ではなく実行（r）します"},
	"msg-manual-run":   {"%s is a manual item: answer it with y, n or a", "%s は手動確認です: y・n・a で回答します"},
	"msg-running":      {"%s is already running", "%s は実行中です"},
	"msg-busy":         {"probes are still running: wait for them to finish", "プローブの実行中です: 終了までお待ちください"},
	"msg-signed":       {"the record is signed: nothing can change now", "署名済みです: もう変更できません"},
	"msg-answered":     {"%s answered: %s", "%s に回答: %s"},
	"msg-waived":       {"%s waived", "%s を免除しました"},
	"msg-valued":       {"%s judged from the typed version: %s", "%s を入力された版で判定: %s"},
	"msg-no-value":     {"%s reads its value itself: nothing to type", "%s は自動で取得します（入力不要）"},
	"msg-rerun":        {"re-running %s", "%s を再実行中"},
	"msg-rerun-all":    {"re-running every probe", "すべてのプローブを再実行中"},
	"msg-sign-wait":    {"%d probe(s) still running: sign off when they have finished", "実行中のプローブが %d件あります: 終了後に署名してください"},
	"msg-no-peer":      {"this profile has no peer: there is no other facility to show", "このプロファイルには相手施設（peer）がありません"},

	// peer panel and joint verdict
	"peer":                {"peer", "相手施設"},
	"peer-asking":         {"peer: asking the other facility…", "相手施設: 問い合わせ中…"},
	"peer-not-signed":     {"but its sign-off is %s: it does not count", "ただし署名が %s のため数えない"},
	"peer-signed-by":      {"signed by %s at %s", "%s が %s に署名"},
	"peer-verified":       {"verified", "検証済み"},
	"peer-blocks":         {"blocks: %s", "妨げ: %s"},
	"peer-waiting":        {"waiting for: %s", "未完了: %s"},
	"peer-interrupted":    {"INTERRUPTED", "中断"},
	"peer-running":        {"running %d/%d", "実行中 %d/%d"},
	"peer-live":           {"live, not signed", "進行中・未署名"},
	"peer-nogo-so-far":    {"NO-GO so far", "現時点でNO-GO"},
	"peer-not-started":    {"not started for this operation", "この手術では未実施"},
	"peer-unreachable":    {"UNREACHABLE", "接続不可"},
	"peer-unverifiable":   {"UNVERIFIABLE", "検証不可"},
	"peer-split":          {"SPLIT VIEW", "ログ改変の疑い"},
	"peer-not-configured": {"NOT CONFIGURED", "未設定"},
	"peer-title":          {"The other facility and the joint verdict · operation %s", "相手施設と両施設の判定 · 手術 %s"},
	"peer-looked":         {"last looked at %s; asks every %s (reasons in English, as the logs keep them)", "最終確認 %s・%s ごとに確認（理由はログと同じ英文）"},
	"peer-close":          {"p or esc closes this", "p または esc で閉じる"},
	"joint":               {"joint", "両施設"},
	"joint-waiting":       {"WAITING", "待機中"},
	"joint-not-ready":     {"NOT READY", "準備未完了"},
	"joint-ready":         {"OPERATION READY", "手術実施可"},
	"joint-ready-why":     {"both GO, signed and verified · fresh for %d min", "両施設GO・署名検証済み · あと%d分有効"},
	"joint-here":          {"here", "当施設"},
	"joint-peer":          {"peer", "相手"},
	"pair-tab":            {"tab: other facility", "tab: もう一方の施設"},
}

// kindDocs are the probe kinds' one-line descriptions in Japanese; English comes from checks.Probers.
var kindDocs = map[string]string{
	"ports":    "対象へのTCP接続スキャン（開いているポート）",
	"connect":  "TCP接続を1回試み、結果を分類",
	"tls":      "TLSの版・暗号スイート・証明書チェーン・名前・有効期限・クライアント証明書要求",
	"dns":      "DNSサーバへの問い合わせ（UDP・TCP）",
	"icmp":     "ICMPエコー: 到達性と回線品質（損失・RTT・ジッタ）",
	"ssh":      "SSHのバナーと提示されるアルゴリズム（ログインしない）",
	"firmware": "VPN装置のファームウェア版をオフラインの脆弱性情報と照合",
	"ntp":      "施設の時刻サーバとの時刻ずれ・RTT・stratum",
	"route":    "対象への経路でカーネルが選ぶ送信元アドレス（パケットは送らない）",
	"http":     "HTTP(S)エンドポイント: 認証なしの応答コード・HSTS・TLS",
}

// tr returns the label for key in lang, formatted with args; report's labels are the fallback.
func tr(lang, key string, args ...any) string {
	s := report.Label(lang, key)
	if t, ok := texts[key]; ok {
		s = t[0]
		if lang == "ja" {
			s = t[1]
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
