package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAnalytics loads the analytics page over real metrics (engine runs →
// projector → rollups → page) in chromium: the charts and the heatmap are drawn, the
// page's stylesheet recolours the charts per theme (the theme toggle switches them), and
// the heat overlay's colours survive the CSP. Screenshots: analytics-light, -dark and
// -compare (in $COCKPIT_SCREENSHOTS when set).
func TestBrowserAnalytics(t *testing.T) {
	browser := newBrowser(t)
	base := metricsStack(t)
	ctx, cancel := chromedp.NewContext(browser)
	defer cancel()
	if err := doSteps(ctx, chromedp.Navigate(base+"/processes/ship/analytics?version=1&range=1h&step=minute")); err != nil {
		t.Fatal(err)
	}
	check := func(ctx context.Context, what, cond string) {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err != nil || !ok {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: %v\n%.2000s", what, err, html)
		}
	}
	started := `getComputedStyle(document.querySelector("[data-testid=chart-throughput] .series-started .chart-line")).stroke`
	check(ctx, "throughput drawn with a started line", `document.querySelector("[data-testid=chart-throughput] svg .series-started .chart-line").getAttribute("d").length > 10`)
	check(ctx, "incident bars drawn", `document.querySelectorAll("[data-testid=chart-incidents] svg .chart-bar").length > 0`)
	check(ctx, "duration histogram drawn", `document.querySelectorAll("[data-testid=chart-durations] svg .chart-bar").length > 0`)
	check(ctx, "slowest activities ranked", `document.querySelectorAll("[data-testid=chart-slowest] svg .chart-bar").length === 2`)
	check(ctx, "heat on charge, coloured", `(function () {
		var h = document.querySelector('.overlays [data-element-id=charge] .heat');
		return h !== null && getComputedStyle(h).stroke !== "none" && getComputedStyle(h).strokeWidth === "10px";
	})()`)
	check(ctx, "tooltip on charge", `document.querySelector('.overlays [data-element-id=charge] .overlay-hit title').textContent.indexOf("entered 30") >= 0`)
	check(ctx, "light theme colour", started+` === "rgb(47, 91, 211)"`)
	screenshot(t, ctx, "analytics-light")

	if err := doSteps(ctx, chromedp.Click(chromedp.CSS("[data-theme-toggle]"))); err != nil {
		t.Fatal(err)
	}
	check(ctx, "dark theme colour", `document.documentElement.dataset.theme === "dark" && `+started+` === "rgb(109, 147, 255)"`)
	screenshot(t, ctx, "analytics-dark")

	if err := doSteps(ctx, chromedp.Navigate(base+"/processes/ship/analytics?version=1&compare=2&range=1h&step=minute&heat=avg")); err != nil {
		t.Fatal(err)
	}
	check(ctx, "two columns", `document.querySelectorAll("[data-testid=analytics-column]").length === 2`)
	check(ctx, "two heatmaps, each with its heat, beside each other", `(function () {
		var panes = document.querySelectorAll("[data-testid=heat-pane]");
		if (panes.length !== 2) return false;
		var a = panes[0].getBoundingClientRect(), b = panes[1].getBoundingClientRect();
		return a.width > 300 && b.width > 300 && (b.left >= a.right - 1 || b.top >= a.bottom - 1) &&
			panes[1].querySelector('[data-element-id=label] .heat') !== null &&
			panes[0].querySelector('[data-element-id=label]') === null;
	})()`)
	screenshot(t, ctx, "analytics-compare")
}
