package app

import (
	"strings"
	"testing"
)

// TestValidateJobTypes: validate lists the job types of each process and, given
// --job-types, warns about the service tasks of any other type without changing the
// exit status.
func TestValidateJobTypes(t *testing.T) {
	t.Parallel()
	r := runApp(t, nil, "validate", "testdata/executable.bpmn")
	if r.code != exitOK || !strings.Contains(r.stdout, `job types (1): "greet" (served? validate cannot know: pass --job-types)`) ||
		strings.Contains(r.stdout, "warnings") {
		t.Fatalf("without --job-types: exit %d\n%s", r.code, r.stdout)
	}
	r = runApp(t, nil, "validate", "--job-types", "mail, ship", "testdata/executable.bpmn")
	if r.code != exitOK || !strings.Contains(r.stdout, "warnings (1):") ||
		!strings.Contains(r.stdout, `line 7  serviceTask  Greet  job type "greet" is not in --job-types: its jobs would wait`) {
		t.Fatalf("with other types: exit %d\n%s", r.code, r.stdout)
	}
	r = runApp(t, nil, "validate", "--job-types=greet", "testdata/executable.bpmn")
	if r.code != exitOK || strings.Contains(r.stdout, "warnings") || strings.Contains(r.stdout, "cannot know") {
		t.Fatalf("with the served type: exit %d\n%s", r.code, r.stdout)
	}
}
