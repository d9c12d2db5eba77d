package web_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLongValues opens the pages that list or show the hostile values (see
// longValuesServer) in chromium at 1280 and at 390 px: no element makes the page wider
// than the window, no markup from a value runs, and the values read with their
// characters. The screenshots land in $COCKPIT_SCREENSHOTS when it is set.
func TestBrowserLongValues(t *testing.T) {
	browser := newBrowser(t)
	base, id, inc := longValuesServer(t)
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	pages := []struct{ name, path string }{
		{"dashboard", "/"},
		{"instances", "/instances"},
		{"instance", "/instances/" + id},
		{"incidents", "/incidents"},
		{"process", "/processes/long"},
		{"variables", "/instances/" + id + "/variables"},
		{"retry", "/incidents/" + inc + "/retry"},
	}
	for _, width := range []int64{1280, 390} {
		if err := doSteps(ctx, chromedp.EmulateViewport(width, 900)); err != nil {
			t.Fatal(err)
		}
		for _, pg := range pages {
			if err := doSteps(ctx, chromedp.Navigate(base+pg.path), waitJS(`document.readyState === "complete"`)); err != nil {
				t.Fatalf("%s: %v", pg.path, err)
			}
			what := fmt.Sprintf("%s at %d px", pg.name, width)
			// The widest element, when the page is wider than the window, names the culprit.
			over, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function () {
				var se = document.scrollingElement;
				if (se.scrollWidth <= window.innerWidth) return "";
				var worst = null, right = 0;
				document.querySelectorAll("body *").forEach(function (el) {
					var r = el.getBoundingClientRect();
					if (r.right > right) { right = r.right; worst = el; }
				});
				return se.scrollWidth + " > " + window.innerWidth + ": " + (worst ? worst.outerHTML.slice(0, 200) : "?");
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			if over != "" {
				t.Errorf("%s: the page is wider than the window: %s", what, over)
			}
			xss, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__xss === undefined`))
			if err != nil || !xss {
				t.Errorf("%s: markup from a value ran (%v)", what, err)
			}
			if pg.name == "instance" {
				shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("[data-testid=variable-row][data-name=short]").textContent.indexOf('"<b>bold</b>"') >= 0`))
				if err != nil || !shown {
					t.Errorf("%s: the variable is not shown with its characters: %v", what, err)
				}
			}
			screenshot(t, ctx, fmt.Sprintf("long-%s-%d", pg.name, width))
		}
	}
}
