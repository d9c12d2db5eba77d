package web

// Operators' edits: claim, unclaim and reassign a user task (the task page and the task
// list), delete and rename one variable of one scope (the instance page). Each goes
// through the command service like every action (actions.go): audited with the actor
// and the reason, answered by a redirect with a banner.

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Task assignment verbs (POST /tasks/:id/<verb>).
const (
	taskClaim   = "claim"
	taskUnclaim = "unclaim"
	taskAssign  = "assign"
)

func taskURL(id string) string { return "/tasks/" + url.PathEscape(id) }

// assignTask claims (as the operator), unclaims or reassigns (to the form's assignee) a
// user task, and goes back to the page it came from (back=, else the task).
func (s *server) assignTask(verb string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cmds, err := s.commands()
		if err != nil {
			return err
		}
		id := c.Param("id")
		back := localPath(c.FormValue("back"), taskURL(id))
		req := command.TaskAssignRequest{Meta: s.meta(c, reasonWeb), TaskID: id}
		ctx := c.Request().Context()
		var res *command.TaskAssignResult
		var what string
		switch verb {
		case taskClaim:
			what = "Claim task"
			req.Assignee = req.Actor
			res, err = cmds.ClaimTask(ctx, req)
		case taskUnclaim:
			what = "Unclaim task"
			res, err = cmds.UnclaimTask(ctx, req)
		default:
			what = "Reassign task"
			req.Assignee = strings.TrimSpace(c.FormValue("assignee"))
			if req.Assignee == "" {
				return redirectFlash(c, back, "Reassign task: enter the name of the person to assign it to.", true)
			}
			res, err = cmds.AssignTask(ctx, req)
		}
		if err != nil {
			return actionFailed(c, back, what, err)
		}
		msg := "Task assigned to " + res.Assignee + "."
		if res.Assignee == "" {
			msg = "Task unclaimed: nobody is assigned."
		}
		return redirectFlash(c, back, msg, false)
	}
}

// deleteVariable deletes one variable of one scope. Without script the first post
// answers with a confirm page (app.js asks in a dialog and posts confirm=yes).
func (s *server) deleteVariable(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	id := c.Param("id")
	back := instanceURL(id)
	scope, name := c.FormValue("scope"), c.FormValue("name")
	if name == "" {
		return badRequest("Delete variable: the form names no variable (field name).")
	}
	if !confirmed(c) {
		form, _ := c.FormParams()
		details := []string{"Variable " + name + " of instance " + id}
		if scope != "" {
			details = append(details, "Local to the scope of token "+scope)
		}
		return s.render(c, http.StatusOK, page{Title: "Delete variable?", Nav: layout.NavInstances}, pages.Confirm(pages.ConfirmPageProps{
			Title: "Delete variable " + name + "?", Message: "The variable and its value are removed from the instance; expressions that read it fail until it is set again.",
			Details: details, Action: back + "/variables/delete", Fields: hiddenFields(form, "scope", "name", "reason"),
			Label: "Delete variable", Danger: true, BackHref: back}))
	}
	_, err = cmds.DeleteVariable(c.Request().Context(), command.VariableRequest{Meta: s.meta(c, reasonWeb), InstanceID: id, Scope: scope, Name: name})
	if err != nil {
		return actionFailed(c, back, "Delete variable", err)
	}
	return redirectFlash(c, back, "Variable "+name+" deleted.", false)
}

// renameVariable renames one variable of one scope (field newName).
func (s *server) renameVariable(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	id := c.Param("id")
	back := instanceURL(id)
	name, to := c.FormValue("name"), strings.TrimSpace(c.FormValue("newName"))
	if name == "" {
		return badRequest("Rename variable: the form names no variable (field name).")
	}
	if to == "" {
		return redirectFlash(c, back, "Rename variable "+name+": enter the new name.", true)
	}
	res, err := cmds.RenameVariable(c.Request().Context(), command.VariableRequest{Meta: s.meta(c, reasonWeb), InstanceID: id,
		Scope: c.FormValue("scope"), Name: name, NewName: to})
	if err != nil {
		return actionFailed(c, back, "Rename variable", err)
	}
	return redirectFlash(c, back, "Variable "+name+" renamed to "+res.Name+".", false)
}
