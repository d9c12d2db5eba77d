package web

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

func (s *server) tasks(c echo.Context) error {
	state := c.QueryParam("state")
	switch state {
	case "":
		state = store.TaskOpen
	case store.TaskOpen, store.TaskCompleted, store.TaskCancelled:
	default:
		return badRequest("Unknown task state %q: use open, completed or cancelled.", state)
	}
	ctx := c.Request().Context()
	assignee, service := strings.TrimSpace(c.QueryParam("assignee")), c.QueryParam("service")
	list, err := s.eng.ListUserTasks(ctx, store.UserTaskFilter{State: state, Assignee: assignee, Service: service,
		Limit: taskListCap + 1})
	if err != nil {
		return err
	}
	p := pages.TasksProps{Now: s.now(), State: state, Assignee: assignee, Service: service, Limit: taskListCap,
		Capped: len(list) > taskListCap}
	p.Tasks = list[:min(len(list), taskListCap)]
	p.Back = "/tasks" + encodeQuery(cloneValues(c.Request().URL.Query()))
	latest, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{LatestOnly: true})
	if err != nil {
		return err
	}
	if p.Services = definitionServices(latest); len(p.Services) > 1 {
		if p.TaskServices, err = s.taskServices(ctx, p.Tasks, service, keyServices(latest)); err != nil {
			return err
		}
	}
	return s.render(c, 200, page{Title: "User tasks", Nav: layout.NavTasks}, pages.Tasks(p))
}

// taskServices names the service of each task (by task id). A task names its instance
// and process key, not its definition: with the service filter set every task is that
// service's, a key one service deploys is that service's, and only a task of a key
// several deploy is looked up through its instance's definition (at most taskListCap
// rows, each read once).
func (s *server) taskServices(ctx context.Context, tasks []*store.UserTask, filter string, byKey map[string][]string) (map[string]string, error) {
	out := make(map[string]string, len(tasks))
	byDef := map[string]string{}
	for _, t := range tasks {
		switch svcs := byKey[t.DefinitionKey]; {
		case filter != "":
			out[t.ID] = filter
		case len(svcs) == 1:
			out[t.ID] = svcs[0]
		default:
			in, err := s.eng.GetInstanceRow(ctx, t.InstanceID)
			if err != nil {
				return nil, fmt.Errorf("service of task %s: %w", t.ID, err)
			}
			sv, ok := byDef[in.DefinitionID]
			if !ok {
				d, err := s.eng.GetDefinition(ctx, in.DefinitionID)
				if err != nil {
					return nil, fmt.Errorf("service of task %s: %w", t.ID, err)
				}
				sv, byDef[in.DefinitionID] = d.Service, d.Service
			}
			out[t.ID] = sv
		}
	}
	return out, nil
}

// taskPage loads a task, its instance and its form fields from the model.
func (s *server) taskPage(c echo.Context) (*pages.TaskProps, []bpmn.FormField, error) {
	ctx := c.Request().Context()
	id := c.Param("id")
	d, err := s.eng.GetUserTask(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &pageError{Status: 404, Title: "Task not found",
			Message:  "No user task has the id " + strconv.Quote(id) + ". It may belong to a different cockpit, or the link is wrong.",
			BackHref: "/tasks", BackLabel: "Go to the task list"}
	}
	if err != nil {
		return nil, nil, err
	}
	task, inst := d.Task, d.Instance
	model, err := s.eng.Model(ctx, inst.DefinitionID)
	if err != nil {
		return nil, nil, err
	}
	var fields []bpmn.FormField
	if el := bpmn.NewIndex(model).Element(task.ElementID); el != nil {
		fields = el.Task.FormFields
	}
	p := &pages.TaskProps{Now: s.now(), Task: task, Instance: inst, Generic: len(fields) == 0}
	for _, f := range fields {
		label := f.Label
		if label == "" {
			label = f.ID
		}
		p.Fields = append(p.Fields, pages.FormField{ID: f.ID, Label: label, Type: fieldType(f.Type),
			Value: f.DefaultValue, Checked: f.DefaultValue == "true"})
	}
	return p, fields, nil
}

func fieldType(t string) string {
	if t == "" {
		return "string"
	}
	return t
}

func taskTitle(t *store.UserTask) string {
	if t.Name != "" {
		return t.Name
	}
	return t.ElementID
}

func (s *server) task(c echo.Context) error {
	p, _, err := s.taskPage(c)
	if err != nil {
		return err
	}
	p.Completed = c.QueryParam("completed") == "1" && p.Task.State == store.TaskCompleted
	return s.render(c, 200, page{Title: taskTitle(p.Task), Nav: layout.NavTasks}, pages.Task(*p))
}

// completeTask reads the form, checks each value against its field's type (errors are
// shown beside the fields, status 422), and completes the task through the command
// service, or the engine when there is none. Success redirects to the task (303), so a
// reload does not post again.
func (s *server) completeTask(c echo.Context) error {
	p, fields, err := s.taskPage(c)
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	form := c.Request().PostForm
	vars := map[string]any{}
	invalid := false
	for i, f := range fields {
		pf := &p.Fields[i]
		values := form[f.ID]
		raw := ""
		if len(values) > 0 {
			raw = strings.TrimSpace(values[len(values)-1])
		}
		pf.Value = raw
		switch fieldType(f.Type) {
		case "boolean":
			// A hidden "false" comes before the checkbox, so the last value wins.
			pf.Checked = raw == "true" || raw == "on"
			vars[f.ID] = pf.Checked
		case "long", "integer":
			if raw == "" {
				continue
			}
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				pf.Error, invalid = "Enter a whole number, such as 42.", true
				continue
			}
			vars[f.ID] = n
		case "double", "number":
			if raw == "" {
				continue
			}
			x, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				pf.Error, invalid = "Enter a number, such as 4.2.", true
				continue
			}
			vars[f.ID] = x
		case "date":
			if raw == "" {
				continue
			}
			if _, err := time.Parse("2006-01-02", raw); err != nil {
				pf.Error, invalid = "Enter a date as YYYY-MM-DD.", true
				continue
			}
			vars[f.ID] = raw
		default:
			vars[f.ID] = raw
		}
	}
	if p.Task.State != store.TaskOpen {
		p.FormError = "This task is " + p.Task.State + " already; nothing was changed."
		return s.render(c, 409, page{Title: taskTitle(p.Task), Nav: layout.NavTasks}, pages.Task(*p))
	}
	if invalid {
		p.FormError = "Some values need fixing; the task was not completed."
		return s.render(c, 422, page{Title: taskTitle(p.Task), Nav: layout.NavTasks}, pages.Task(*p))
	}
	ctx := c.Request().Context()
	if s.cmds == nil {
		if err := s.writable(); err != nil {
			return err
		}
	}
	if s.cmds != nil {
		_, err = s.cmds.CompleteTask(ctx, command.CompleteTaskRequest{
			Meta: command.Meta{Actor: s.actor(c.Request()), Reason: "completed in the cockpit"}, TaskID: p.Task.ID, Variables: vars})
	} else {
		err = s.eng.CompleteUserTask(ctx, p.Task.ID, vars)
	}
	switch {
	case err == nil:
		return c.Redirect(303, "/tasks/"+url.PathEscape(p.Task.ID)+"?completed=1")
	case errors.Is(err, engine.ErrInvalidInput):
		p.FormError = "The engine refused these values: " + err.Error()
		return s.render(c, 422, page{Title: taskTitle(p.Task), Nav: layout.NavTasks}, pages.Task(*p))
	case errors.Is(err, engine.ErrInvalidState):
		p.FormError = "The task cannot be completed now: " + err.Error()
		return s.render(c, 409, page{Title: taskTitle(p.Task), Nav: layout.NavTasks}, pages.Task(*p))
	case errors.Is(err, engine.ErrNotFound):
		return notFound("The task is gone: %v", err)
	}
	return err
}
