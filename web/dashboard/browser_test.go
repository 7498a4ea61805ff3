package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/dashboard"
)

// chromiumPath finds Debian's chromium, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("GARDE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip("skipping the browser test: chromium is not installed (apt-get install -y chromium, or set GARDE_CHROMIUM)")
	return ""
}

// headless starts a fresh headless Chromium for the test.
func headless(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("skipping the browser test: chromium does not start: %v", err)
	}
	return ctx
}

// screenshotDir is where page screenshots go: $GARDE_SCREENSHOTS when
// set (CI keeps it as an artefact), else a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("GARDE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestDashboardInBrowser drives the dashboard in headless Chromium: sign
// in, see an overdue request and one due soon, extend the latter, watch a
// breach clock count down, get signed out by the idle timeout, sign in
// again, download the Art. 30 spreadsheet and read it, sign out.
func TestDashboardInBrowser(t *testing.T) {
	ctx := headless(t)
	e := newEnv(t)
	s := seedDashboard(t, e)
	shots := screenshotDir(t)
	downloads := t.TempDir()
	base := e.ts.URL

	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			var html string
			html, _ = chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: %v\n%.3000s", what, err, html)
		}
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		u, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatalf("location: %v", err)
		}
		return strings.TrimPrefix(u, base)
	}

	// Sign in.
	run("sign-in page",
		chromedp.Navigate(base+"/dashboard/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		shot("01-signin"),
		chromedp.SendKeys(chromedp.CSS("#key"), e.a.Keys[garde.RoleDPO]),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#h-req")),
	)
	if got := location(); got != "/dashboard/overview" {
		t.Fatalf("after sign-in at %s", got)
	}

	// The overview: the overdue request, the one due soon, the clock, the
	// chart, the ledger.
	overdueRow := `tr.overdue a[href="/dashboard/requests/` + s.overdue + `"]`
	soonRow := `tr.soon a[href="/dashboard/requests/` + s.soon + `"]`
	run("overview", chromedp.WaitVisible(chromedp.CSS(overdueRow)), chromedp.WaitVisible(chromedp.CSS(soonRow)),
		chromedp.WaitVisible(chromedp.CSS("svg.chart circle")), shot("02-overview"))
	if got := text("#ledger-status"); !strings.Contains(got, "Verified") {
		t.Errorf("ledger status = %q", got)
	}
	if got := text(".clocks .clock"); !strings.Contains(got, "left") {
		t.Errorf("overview breach clock = %q", got)
	}
	run("overview on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#h-req")), shot("03-overview-phone"),
		chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#h-req")))

	// The overdue request: flagged, and too late to extend (Art. 12(3)).
	run("overdue request", chromedp.Click(chromedp.CSS(overdueRow)), chromedp.WaitVisible(chromedp.CSS("#request-due")), shot("04-request-overdue"))
	if got := text("#request-due"); !strings.Contains(got, "Overdue") {
		t.Errorf("overdue request's deadline = %q", got)
	}
	if got := text("#extend-too-late"); !strings.Contains(got, "Art. 12(3)") {
		t.Errorf("overdue request's extension = %q", got)
	}

	// The request due soon: extend it by one month, with reasons, using
	// the keyboard for the choice.
	reason := "Many requests received at once; the export needs a manual review."
	run("extend",
		chromedp.Navigate(base+"/dashboard/requests"),
		chromedp.WaitVisible(chromedp.CSS(soonRow)),
		shot("05-requests"),
		chromedp.Click(chromedp.CSS(soonRow)),
		chromedp.WaitVisible(chromedp.CSS("#extend-form")),
		chromedp.Click(chromedp.CSS(`input[name="months"][value="1"]`)),
		chromedp.SendKeys(chromedp.CSS("#extend-reason"), reason),
		shot("06-request-extend"),
		chromedp.Click(chromedp.CSS("#extend-submit")),
		chromedp.WaitVisible(chromedp.CSS("#request-extension")),
		shot("07-request-extended"),
	)
	if got := text("#request-extension"); !strings.Contains(got, reason) {
		t.Errorf("extension = %q", got)
	}
	if got := text("#request-due"); strings.Contains(got, "Due soon") || !strings.Contains(got, "11 May 2026") {
		t.Errorf("deadline after extension = %q, want 11 May 2026", got)
	}
	req, err := e.svc.Rights.Request(context.Background(), e.a.DPO, s.soon)
	if err != nil || req.Extension != reason {
		t.Errorf("stored request = %+v, %v", req.Extension, err)
	}

	// The breach clock counts down in the page.
	run("breach", chromedp.Navigate(base+"/dashboard/breaches"), chromedp.WaitVisible(chromedp.CSS(`a[href="/dashboard/breaches/`+s.breach+`"]`)), shot("08-breaches"),
		chromedp.Click(chromedp.CSS(`a[href="/dashboard/breaches/`+s.breach+`"]`)), chromedp.WaitVisible(chromedp.CSS("#breach-clock .clock")))
	first := text("#breach-clock .clock")
	run("wait", chromedp.Sleep(2200*time.Millisecond))
	second := text("#breach-clock .clock")
	if first == second || !strings.HasPrefix(first, "1 h 59 min") && !strings.HasPrefix(first, "2 h 00 min") {
		t.Errorf("breach clock = %q then %q, want a live countdown from about 2 h", first, second)
	}
	run("breach shot", shot("09-breach"))

	// The audit trail, searched by action.
	run("audit", chromedp.Navigate(base+"/dashboard/audit"), chromedp.WaitVisible(chromedp.CSS("#action")),
		chromedp.SetValue(chromedp.CSS("#action"), garde.ActionRequestChange), chromedp.WaitVisible(chromedp.CSS("#audit-submit")))
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("#audit-submit")))); err != nil {
		t.Fatalf("audit search: %v", err)
	}
	run("audit results", chromedp.WaitVisible(chromedp.CSS("#audit-results")), shot("10-audit"))
	if got := text("#audit-results tbody"); !strings.Contains(got, garde.ActionRequestChange) || strings.Contains(got, garde.ActionConsentGrant) {
		t.Errorf("audit results = %q", got)
	}

	// Idle for longer than the timeout: the next page is the sign-in page.
	s.clock.Advance(dashboard.SessionIdle + time.Minute)
	run("idle", chromedp.Navigate(base+"/dashboard/overview"), chromedp.WaitVisible(chromedp.CSS("#key")))
	if got := text("p.notice"); !strings.Contains(got, "inactivity") {
		t.Errorf("after the idle timeout the sign-in page says %q", got)
	}

	// Sign in again, as the admin, in French; download the spreadsheet.
	run("sign in as admin",
		chromedp.Navigate(base+"/dashboard/signin?lang=fr"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), e.a.Keys[garde.RoleAdmin]),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#h-req")),
		shot("11-overview-fr"),
		chromedp.Navigate(base+"/dashboard/register?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#art30-xlsx")),
		shot("12-register"),
	)
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("download behaviour: %v", err)
	}
	run("download", chromedp.Click(chromedp.CSS("#art30-xlsx")))
	var xlsx string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && xlsx == ""; time.Sleep(100 * time.Millisecond) {
		matches, _ := filepath.Glob(filepath.Join(downloads, "*.xlsx"))
		if len(matches) == 1 {
			xlsx = matches[0]
		}
	}
	if xlsx == "" {
		t.Fatal("the Art. 30 spreadsheet was not downloaded")
	}
	data, err := os.ReadFile(xlsx)
	if err != nil {
		t.Fatal(err)
	}
	checkArt30Spreadsheet(t, data)

	run("keys and settings", chromedp.Navigate(base+"/dashboard/keys"), chromedp.WaitVisible(chromedp.CSS("#h-list")), shot("13-keys"),
		chromedp.Navigate(base+"/dashboard/settings"), chromedp.WaitVisible(chromedp.CSS("main h1")), shot("14-settings"))

	// On every page visited: the stylesheet and the script loaded under
	// the CSP, no inline style, and every visible form control labelled.
	for _, path := range []string{"/dashboard/overview", "/dashboard/register", "/dashboard/requests", "/dashboard/requests/" + s.soon,
		"/dashboard/requests/" + s.overdue, "/dashboard/breaches/" + s.breach, "/dashboard/audit", "/dashboard/keys", "/dashboard/settings"} {
		run("open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yScript))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(problems) > 0 {
			t.Errorf("%s: %q", path, problems)
		}
	}

	// Keyboard: the skip link is the first stop and leads to the content.
	run("keyboard", chromedp.Navigate(base+"/dashboard/overview"), chromedp.WaitVisible(chromedp.CSS("#h-req")), chromedp.KeyEvent("\t"))
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className`))
	if err != nil {
		t.Fatal(err)
	}
	if focused != "skip" {
		t.Errorf("first Tab stop = %q, want the skip link", focused)
	}

	// Sign out; the dashboard is closed again.
	run("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#key")), shot("15-signed-out"))
	if got := text("p.notice"); !strings.Contains(got, "signed out") {
		t.Errorf("after sign-out the page says %q", got)
	}
	run("after sign-out", chromedp.Navigate(base+"/dashboard/requests"), chromedp.WaitVisible(chromedp.CSS("#key")))
	if got := location(); !strings.HasPrefix(got, "/dashboard/signin") {
		t.Errorf("after sign-out /dashboard/requests shows %s", got)
	}
	t.Logf("screenshots in %s", shots)
}

// a11yScript lists what is wrong with the page: a form control without a
// label, an inline style, the stylesheet not applied, a missing lang.
const a11yScript = `(() => {
  const out = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest("label") || el.getAttribute("aria-label");
    if (!labelled) out.push("unlabelled " + el.tagName + " " + (el.name || ""));
  }
  if (document.querySelector("[style]")) out.push("inline style attribute");
  if (document.querySelector("style, script:not([src])")) out.push("inline style or script element");
  if (getComputedStyle(document.querySelector("header.top")).backgroundColor !== "rgb(29, 78, 137)") out.push("stylesheet not applied");
  if (!document.documentElement.lang) out.push("no lang");
  if (document.querySelectorAll("h1").length !== 1) out.push("not exactly one h1");
  return out;
})()`
