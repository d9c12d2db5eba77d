package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestBrowserSignIn: with sign-in, an instance page sends to the sign-in page; a viewer
// signs in, sees the instance, and is refused its cancel with a page that names the role
// it needs; after signing out, an operator signs in and cancels it.
func TestBrowserSignIn(t *testing.T) {
	browser := newBrowser(t)
	s := newStackWith(t, func(e *engine.Engine) error {
		defs, err := bpmn.Build("wait", bpmn.Name("Wait")).Start("start").UserTask("check", bpmn.Name("Check")).End("end").Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "wait.bpmn", defs)
		return err
	}, stackOptions{signIn: true})
	in, err := s.e.StartInstance(context.Background(), "wait", engine.StartOptions{BusinessKey: "ORDER-11"})
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, browser)
	d.run("open the instance", chromedp.Navigate(s.url+"/instances/"+in.ID))
	d.page("the sign-in page", `location.pathname === "/signin" && document.querySelector("[data-testid=signin-form]") !== null`)
	screenshot(t, d.ctx, "signin")
	signIn := func(name string) {
		d.run("sign in as "+name, chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=signin-name]").value = `+jsString(name)+`;
			document.querySelector("[data-testid=signin-password]").value = `+jsString(stackPassword)+`; true`),
			clickJS("[data-testid=signin-submit]"))
		d.page("signed in as "+name, `location.pathname === "/instances/`+in.ID+`" && document.querySelector("[data-testid=user-name]") !== null &&
			document.querySelector("[data-testid=user-name]").textContent === `+jsString(name))
	}
	signIn("vera")
	screenshot(t, d.ctx, "signin-viewer")
	// The viewer sees no action (app.css hides what the role cannot use) …
	d.page("no cancel button for a viewer", `document.querySelector("[data-testid=action-cancel]") !== null &&
		document.querySelector("[data-testid=action-cancel]").offsetParent === null &&
		document.querySelector("[data-testid=action-modify]").offsetParent === null && document.body.dataset.role === "viewer"`)
	// … and the server refuses the cancel when the form is sent anyway.
	d.then("send the cancel form anyway", chromedp.Evaluate[chromedp.Void](`(function () {
			var f = document.querySelector("[data-testid=action-cancel]").form;
			f.setAttribute("data-confirmed", "1");
			setTimeout(function () { f.requestSubmit(); }, 0); })()`),
		`document.body.textContent.indexOf("Not allowed") >= 0 && document.body.textContent.indexOf("needs operator") >= 0`)
	screenshot(t, d.ctx, "signin-viewer-refused")
	if st := instanceState(t, s, in.ID); st != store.InstanceActive {
		t.Fatalf("a viewer's cancel left the instance %s", st)
	}
	d.run("back to the instance", chromedp.Navigate(s.url+"/instances/"+in.ID))
	d.page("the instance page", `document.querySelector("[data-testid=signout]") !== null`)
	d.then("sign out", clickJS("[data-testid=signout]"), `location.pathname === "/signin"`)
	d.run("open the instance again", chromedp.Navigate(s.url+"/instances/"+in.ID))
	d.page("the sign-in page again", `location.pathname === "/signin"`)
	signIn("otto")
	d.page("the operator sees the cancel button", `document.querySelector("[data-testid=action-cancel]").offsetParent !== null`)
	d.then("cancel as an operator", clickJS("[data-testid=action-cancel]"), `document.querySelector("[data-testid=confirm-dialog]") !== null && document.querySelector("[data-testid=confirm-dialog]").open`)
	d.then("confirm", clickJS("[data-confirm-yes]"), `document.querySelector('#live-instance-title [data-testid=state-pill]') !== null &&
		document.querySelector('#live-instance-title [data-testid=state-pill]').dataset.state === "cancelled"`)
	if st := instanceState(t, s, in.ID); st != store.InstanceCancelled {
		t.Fatalf("the operator's cancel left the instance %s", st)
	}
	screenshot(t, d.ctx, "signin-operator-cancelled")
	d.page("no users link for an operator", `document.querySelector('.nav a[href="/users"]') === null`)

	// An admin manages the users: the users page, a user's page with a new token.
	d.then("sign out", clickJS("[data-testid=signout]"), `location.pathname === "/signin"`)
	d.run("open the instance as the admin", chromedp.Navigate(s.url+"/instances/"+in.ID))
	d.page("the sign-in page", `location.pathname === "/signin"`)
	signIn("ada")
	d.then("open the users page", clickJS(`.nav a[href="/users"]`), `location.pathname === "/users" && document.querySelectorAll("[data-testid=user-row]").length === 3`)
	screenshot(t, d.ctx, "users")
	d.then("open vera", clickJS(`[data-testid=user-row][data-name=vera] a`), `document.querySelector("[data-testid=user-title]") !== null`)
	d.run("name a token", chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=token-name]").value = "ci"; true`))
	d.then("issue it", clickJS("[data-testid=token-submit]"), `document.querySelector("[data-testid=new-token-secret]") !== null &&
		document.querySelector("[data-testid=new-token-secret]").textContent.indexOf("ck_") === 0`)
	screenshot(t, d.ctx, "user-token")
}

func instanceState(t *testing.T, s *stack, id string) string {
	t.Helper()
	d, err := s.e.GetInstance(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.Instance.State
}
