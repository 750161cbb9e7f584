package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTMLSelfContained(t *testing.T) {
	d := sampleDocument()
	d.Record.Items[1].Summary = `<script>alert("x")</script> & more`
	var b bytes.Buffer
	if err := HTML(&b, d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, banned := range []string{"http://", "https://", "<script", "<link", "@import", "url(", " src="} {
		if strings.Contains(page, banned) {
			t.Errorf("the report is not self-contained: it holds %q", banned)
		}
	}
	for _, want := range []string{"<style>", `class="verdict no-go"`, "NO-GO", "Hanako Sato", "reject", "registered to Hanako Sato (Network engineer)",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more", "renewal booked", "✔ INTACT", "@media print", "break-inside: avoid",
		"— preflight/patient-site SIGNATURE=", "V(1)-1", "Fix robot-ports", "<th>unexpected</th><td><span class=\"mono\">[23]</span>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	for _, it := range d.Record.Items {
		if !strings.Contains(page, `<span class="mono">`+it.ID+`</span>`) {
			t.Errorf("the report lacks item %s", it.ID)
		}
	}
}

// TestHTMLInChromium opens the report in headless Chromium (Debian's chromium), screenshots it and
// prints it to PDF. Chromium runs in a network namespace of its own when it can, and is told to
// resolve no names and use a dead loopback proxy, so it cannot reach any other address.
func TestHTMLInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: apt-get install -y chromium (scripts/test.sh installs it as root on Debian)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := HTML(&b, sampleDocument()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot, pdf := filepath.Join(dir, "report.png"), filepath.Join(dir, "report.pdf")
	if out, err := chromium(t, bin, dir, "--screenshot="+shot, "--window-size=1200,1600", "file://"+page); err != nil {
		t.Skipf("chromium is installed but cannot run here: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if bnd := img.Bounds(); bnd.Dx() != 1200 || bnd.Dy() != 1600 {
		t.Fatalf("screenshot %v, want 1200×1600", bnd)
	}
	// The verdict badge is drawn in the NO-GO red, and the page is not blank.
	if red, ink := countPixels(img); red < 200 || ink < 2000 {
		t.Errorf("screenshot has %d NO-GO red pixels and %d dark pixels: the report did not render", red, ink)
	}
	if out, err := chromium(t, bin, dir, "--print-to-pdf="+pdf, "--no-pdf-header-footer", "file://"+page); err != nil {
		t.Fatalf("print to PDF: %v\n%s", err, out)
	}
	if st, err := os.Stat(pdf); err != nil || st.Size() < 10000 {
		t.Fatalf("printed PDF: %v", err)
	}
	if keep := os.Getenv("PREFLIGHT_SCREENSHOT_DIR"); keep != "" {
		for _, p := range []string{shot, pdf, page} {
			if data, err := os.ReadFile(p); err == nil {
				_ = os.WriteFile(filepath.Join(keep, filepath.Base(p)), data, 0o644)
			}
		}
	}
}

func chromium(t *testing.T, bin, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-default-apps", "--disable-domain-reliability", "--hide-scrollbars",
		"--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	flags = append(flags, args...)
	cmd := exec.CommandContext(ctx, bin, flags...)
	if unshare, err := exec.LookPath("unshare"); err == nil && os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, unshare, append([]string{"--net", "--", bin}, flags...)...)
	}
	cmd.Env = append(os.Environ(), "HOME="+dir)
	return cmd.CombinedOutput()
}

func countPixels(img image.Image) (red, ink int) {
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y += 2 {
		for x := bnd.Min.X; x < bnd.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			if r > 150 && r < 200 && g < 70 && b < 60 {
				red++
			}
			if r < 100 && g < 100 && b < 100 {
				ink++
			}
		}
	}
	return red, ink
}
