package camunda

import (
	"net/http"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// failTasks fetches the waiting charge tasks as worker w1 and fails each with no retries
// left: an incident each. It returns the task ids by instance.
func (v *testEnv) failTasks() map[string]string {
	v.t.Helper()
	var tasks []struct {
		ID                string `json:"id"`
		ProcessInstanceID string `json:"processInstanceId"`
	}
	v.do("POST", "/external-task/fetchAndLock", `{"workerId":"w1","maxTasks":10,"topics":[{"topicName":"charge","lockDuration":60000}]}`).
		ok(v.t, http.StatusOK, &tasks)
	out := map[string]string{}
	for _, task := range tasks {
		v.do("POST", "/external-task/"+task.ID+"/failure", `{"workerId":"w1","errorMessage":"card service down","retries":0,"retryTimeout":0}`).
			ok(v.t, http.StatusNoContent, nil)
		out[task.ProcessInstanceID] = task.ID
	}
	return out
}

// Incidents of external tasks are failedExternalTask incidents; setting the retries of
// the job (or of the external task) resolves them, through the command service.
func TestIncidentsAndRetries(t *testing.T) {
	t.Parallel()
	v := newTestServer(t, Options{Actor: "ops"})
	def := v.deploy("order.bpmn").Processes[0].Definition
	in, err := v.Engine.StartInstance(v.ctx, "camunda-order", engine.StartOptions{BusinessKey: "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := v.Engine.StartInstance(v.ctx, "camunda-order", engine.StartOptions{BusinessKey: "o-2"})
	if err != nil {
		t.Fatal(err)
	}
	tasks := v.failTasks()
	task, task2 := tasks[in.ID], tasks[other.ID]
	if task == "" || task2 == "" {
		t.Fatalf("failed tasks %v", tasks)
	}

	var list []incidentDTO
	v.do("GET", "/incident?processInstanceId="+in.ID, nil).ok(t, http.StatusOK, &list)
	if len(list) != 1 {
		t.Fatalf("incidents %+v", list)
	}
	inc := list[0]
	if inc.IncidentType != "failedExternalTask" || inc.ProcessDefinitionID != def.ID || inc.ProcessInstanceID != in.ID ||
		inc.ExecutionID != in.ID || inc.ActivityID != "Task_charge" || inc.FailedActivityID != "Task_charge" || inc.Configuration != task ||
		inc.IncidentMessage != "card service down" || inc.CauseIncidentID != inc.ID || inc.RootCauseIncidentID != inc.ID ||
		inc.IncidentTimestamp != "2026-12-07T09:00:00.000+0000" || inc.TenantID != nil {
		t.Fatalf("incident %+v", inc)
	}
	var count struct{ Count int }
	for q, want := range map[string]int{"": 2, "?incidentType=failedExternalTask": 2, "?incidentType=failedJob": 0,
		"?processDefinitionId=" + def.ID: 2, "?processDefinitionKeyIn=camunda-order,x": 2, "?processDefinitionKeyIn=x": 0,
		"?activityId=Task_charge": 2, "?activityId=Task_ship": 0, "?incidentId=" + inc.ID: 1, "?incidentId=nope": 0,
		"?configuration=" + task2: 1, "?tenantIdIn=t": 0, "?failedActivityId=Task_charge": 2} {
		v.do("GET", "/incident/count"+q, nil).ok(t, http.StatusOK, &count)
		if count.Count != want {
			t.Errorf("count%s = %d, want %d", q, count.Count, want)
		}
	}
	v.do("GET", "/incident?maxResults=1&firstResult=1", nil).ok(t, http.StatusOK, &list)
	if len(list) != 1 {
		t.Fatalf("second page %+v", list)
	}

	v.do("PUT", "/job/"+task+"/retries", `{"retries":-1}`).failed(t, http.StatusBadRequest, "InvalidRequestException", "non-negative")
	v.do("PUT", "/job/"+task+"/retries", `{}`).failed(t, http.StatusBadRequest, "InvalidRequestException", "retries is required")
	v.do("PUT", "/job/nope/retries", `{"retries":1}`).failed(t, http.StatusNotFound, "RestException", "Job with id nope does not exist")
	v.do("PUT", "/external-task/nope/retries", `{"retries":1}`).failed(t, http.StatusNotFound, "RestException", "External task with id nope does not exist")
	v.do("PUT", "/job/"+task+"/retries", `{"retries":0}`).ok(t, http.StatusNoContent, nil)

	v.do("PUT", "/external-task/"+task+"/retries", `{"retries":3}`).ok(t, http.StatusNoContent, nil)
	v.do("GET", "/incident?processInstanceId="+in.ID, nil).ok(t, http.StatusOK, &list)
	if len(list) != 0 {
		t.Fatalf("incidents after the retry %+v", list)
	}
	j, err := v.Engine.LookupJob(v.ctx, task)
	if err != nil || j.Retries != 3 {
		t.Fatalf("job after the retry %+v, %v", j, err)
	}
	rows := v.audit("incident.retry")
	if len(rows) != 1 || rows[0].Actor != "ops" || rows[0].Target != inc.ID || rows[0].Result != "ok" {
		t.Fatalf("audit %+v", rows)
	}
	// A job that has not failed has no retries to set here.
	v.do("PUT", "/job/"+task+"/retries", `{"retries":1}`).failed(t, http.StatusBadRequest, "InvalidRequestException", "has not failed")

	v.do("PUT", "/job/"+task2+"/retries", `{"retries":1}`).ok(t, http.StatusNoContent, nil)
	v.do("GET", "/incident/count", nil).ok(t, http.StatusOK, &count)
	if count.Count != 0 {
		t.Fatalf("%d incidents left", count.Count)
	}
	var incs []*store.Incident
	if incs, err = v.Engine.ListIncidents(v.ctx, store.IncidentFilter{InstanceID: other.ID}); err != nil || len(incs) != 1 || incs[0].State != store.IncidentResolved {
		t.Fatalf("incident of the other instance %+v, %v", incs, err)
	}
}
