package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestBrowserObserver drives an observing cockpit (cockpit serve --observe) whose
// service runs its own engine and store: the instance page shows the instance the
// observer folded, its incident appears live when the engine opens it, and a cancel
// from the observing cockpit goes to the service, whose events bring the cancelled
// state back to the page.
func TestBrowserObserver(t *testing.T) {
	browser := newBrowser(t)
	s := newStackWith(t, func(e *engine.Engine) error {
		e.Handle("work", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
			if job.Variables["ok"] != true {
				return nil, errors.New("the ok variable is not set")
			}
			return nil, nil
		})
		defs, err := bpmn.Build("fix", bpmn.Name("Fix me")).
			Start("start").
			UserTask("check", bpmn.Name("Check")).
			ServiceTask("work", bpmn.Name("Do the work"), bpmn.JobType("work"), bpmn.Retries(1)).
			End("end").
			Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "fix.bpmn", defs)
		return err
	}, stackOptions{observe: true})
	ctx := context.Background()
	in, err := s.e.StartInstance(ctx, "fix", engine.StartOptions{BusinessKey: "ORDER-9"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	waitUntil(t, "the observer's instance page", func() bool {
		res, err := client.Get(s.url + "/instances/" + in.ID)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	page := tab(t, browser, s.url+"/instances/"+in.ID)
	expect(t, page, "the token at the check task", `document.querySelector('[data-diagram] [data-testid="badge-active-check"]') !== null`)

	// The engine moves on: the check is done and the work fails; the observing page shows it live.
	tasks, err := s.e.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: in.ID, State: store.TaskOpen})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("open tasks: %v %v", tasks, err)
	}
	if err := s.e.CompleteUserTask(ctx, tasks[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "the incident at the work", `document.querySelector('[data-diagram] [data-testid="badge-incidents-work"]') !== null`)
	screenshot(t, page, "observer-instance-incident")

	// Cancel from the observing cockpit: the command goes to the service.
	d := &driver{t: t, ctx: page}
	d.then("cancel", clickJS("[data-testid=action-cancel]"), `document.querySelector("[data-testid=confirm-dialog]") !== null && document.querySelector("[data-testid=confirm-dialog]").open`)
	d.then("confirm", clickJS("[data-confirm-yes]"),
		`document.querySelector('#live-instance-title [data-testid=state-pill]') !== null && document.querySelector('#live-instance-title [data-testid=state-pill]').dataset.state === "cancelled"`)
	detail, err := s.e.GetInstance(ctx, in.ID)
	if err != nil || detail.Instance.State != store.InstanceCancelled {
		t.Fatalf("the service's instance after the observer's cancel: %+v %v", detail, err)
	}
	screenshot(t, page, "observer-instance-cancelled")
}
