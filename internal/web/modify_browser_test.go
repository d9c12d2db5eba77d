package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// newModifyStack is the whole cockpit with the engine tests' modification model: a
// user task, a parallel fork into a task with a boundary timer and a subprocess (with a
// message event subprocess and a boundary timer), a join, a multi-instance review.
func newModifyStack(t *testing.T) (*stack, *store.Instance) {
	t.Helper()
	s := newStack(t, func(e *engine.Engine) error {
		data, err := os.ReadFile("../engine/testdata/modify.bpmn")
		if err != nil {
			return err
		}
		_, err = e.Deploy(context.Background(), "modify.bpmn", data)
		return err
	})
	in, err := s.e.StartInstance(context.Background(), "modify", engine.StartOptions{BusinessKey: "MOD-1"})
	if err != nil {
		t.Fatal(err)
	}
	return s, in
}

func tokensAt(t *testing.T, s *stack, id string) []string {
	t.Helper()
	d, err := s.e.GetInstance(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var at []string
	for _, tok := range d.Tokens {
		at = append(at, tok.ElementID)
	}
	slices.Sort(at)
	return at
}

// TestModifyPages drives the modification pages over HTTP: adding a step redirects to
// the page with it and its preview; a refused step shows why; applying changes the
// instance, with the reason in the history.
func TestModifyPages(t *testing.T) {
	s, in := newModifyStack(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string, string) {
		t.Helper()
		res, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Location"), string(b)
	}
	base := s.url + "/instances/" + in.ID + "/modify"
	code, _, body := get(base + "?element=fork")
	if code != 200 || !strings.Contains(body, `data-testid="modify-picked"`) || !strings.Contains(body, `data-testid="modify-add-move"`) {
		t.Fatalf("pick: %d\n%.2000s", code, body)
	}
	code, loc, _ := get(base + "?element=fork&from=prep&add=move&vars=" + url.QueryEscape(`{"note":"moved"}`))
	if code != http.StatusSeeOther || !strings.Contains(loc, "step=") {
		t.Fatalf("add: %d %q", code, loc)
	}
	code, _, body = get(s.url + loc)
	for _, want := range []string{`data-testid="modify-step"`, "Move the tokens at Prepare (prep) to fork, with note",
		`data-testid="modify-effect-tasks-created"`, `data-testid="modify-effect-boundaries-armed"`, `data-testid="badge-active-a"`,
		`data-testid="modify-apply-form"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("preview page lacks %s (%d)\n%.3000s", want, code, body)
		}
	}
	if got := tokensAt(t, s, in.ID); !slices.Equal(got, []string{"prep"}) {
		t.Fatalf("the preview moved tokens: %v", got)
	}

	// A refused modification: the join would wait forever.
	code, loc, _ = get(base + "?element=a&from=prep&add=move")
	code, _, body = get(s.url + loc)
	if !strings.Contains(body, `data-testid="modify-preview-error"`) || !strings.Contains(body, "would wait forever") ||
		strings.Contains(body, `data-testid="modify-apply-form"`) {
		t.Fatalf("refused preview: %d\n%.3000s", code, body)
	}
	// A bad variables object is said at once.
	code, _, body = get(base + "?element=a&add=startBefore&vars=" + url.QueryEscape(`[1]`))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="modify-add-error"`) {
		t.Fatalf("bad variables: %d\n%.2000s", code, body)
	}

	// Apply.
	form := url.Values{"step": {`{"kind":"move","elementId":"fork","from":"prep"}`}, "reason": {"customer called"}}
	res, err := noRedirect.PostForm(base, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/instances/"+in.ID {
		t.Fatalf("apply: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := tokensAt(t, s, in.ID); !slices.Equal(got, []string{"a", "inner", "sub"}) {
		t.Fatalf("after apply: %v", got)
	}
	d, _ := s.e.GetInstance(context.Background(), in.ID)
	var reason bool
	for _, ev := range d.History {
		reason = reason || (ev.Type == event.InstanceModified && strings.Contains(string(ev.Data), "customer called"))
	}
	if !reason {
		t.Fatal("no instance.modified with the reason")
	}
	// Applying a refused modification shows the page again with the reason.
	form = url.Values{"step": {`{"kind":"cancel","elementId":"prep"}`}}
	res, err = noRedirect.PostForm(base, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(b), "no token stands at") {
		t.Fatalf("refused apply: %d\n%.2000s", res.StatusCode, b)
	}
}

// TestBrowserModifyPreview: from the instance page, the operator opens Modify, picks the
// fork on the diagram, moves the token there, sees the preview on the diagram and in
// the list of effects, and applies it with a reason.
func TestBrowserModifyPreview(t *testing.T) {
	browser := newBrowser(t)
	s, in := newModifyStack(t)
	d := newDriver(t, browser)
	ctx, run, page, then := d.ctx, d.run, d.page, d.then
	click := clickJS

	run("open the instance", chromedp.Navigate(s.url+"/instances/"+in.ID),
		waitJS(`document.querySelector("[data-testid=action-modify]") !== null`))
	then("open Modify", click("[data-testid=action-modify]"),
		`location.pathname.endsWith("/modify") && document.querySelector('[data-testid="badge-active-prep"]') !== null`)
	then("pick the fork on the diagram", clickShape("fork"),
		`document.querySelector("[data-testid=modify-picked]") !== null && document.querySelector("#modify-element").value === "fork"`)
	then("move the token there", click("[data-testid=modify-add-move]"),
		`document.querySelector("[data-testid=modify-preview]") !== null && document.querySelectorAll("[data-testid=modify-step]").length === 1`)
	// The preview: the diagram shows the tokens after the move, the list what happens.
	run("the preview on the diagram",
		waitJS(`["a", "inner", "sub"].every(function (id) { return document.querySelector('[data-diagram] [data-testid="badge-active-' + id + '"]') !== null; })
			&& document.querySelector('[data-diagram] [data-testid="badge-active-prep"]') === null`),
		waitJS(`document.querySelector("[data-testid=modify-effect-tokens-cancelled]").textContent.indexOf("Prepare") >= 0
			&& document.querySelector("[data-testid=modify-effect-timers-scheduled]").textContent.indexOf("aTimeout") >= 0
			&& document.querySelector("[data-testid=modify-effect-boundaries-armed]").textContent.indexOf("subTimeout") >= 0`))
	screenshot(t, ctx, "modify-preview")
	if got := tokensAt(t, s, in.ID); !slices.Equal(got, []string{"prep"}) {
		t.Fatalf("the preview moved tokens: %v", got)
	}

	// A second step, taken back.
	then("pick the subprocess", clickShape("sub"), `document.querySelector("#modify-element").value === "sub"`)
	then("start a token before it", click("[data-testid=modify-add-startBefore]"),
		`document.querySelectorAll("[data-testid=modify-step]").length === 2`)
	then("remove the step again", click("[data-testid=modify-remove-2]"),
		`document.querySelectorAll("[data-testid=modify-step]").length === 1 && document.querySelector("[data-testid=modify-apply]") !== null`)

	run("apply with a reason", chromedp.Evaluate[chromedp.Void](`document.querySelector("#modify-reason").value = "customer called"`),
		click("[data-testid=modify-apply]"), waitJS(`document.querySelector("dialog.confirm-dialog").open`),
		click("[data-confirm-yes]"))
	page("the instance page with the banner", `location.pathname === "/instances/`+in.ID+`" &&
		document.querySelector("[data-testid=flash]").textContent.indexOf("Instance modified") >= 0`)
	screenshot(t, ctx, "modify-applied")
	if got := tokensAt(t, s, in.ID); !slices.Equal(got, []string{"a", "inner", "sub"}) {
		t.Fatalf("after apply: %v", got)
	}
}
