package postgres

import (
	"strings"
	"testing"
)

func TestQualifiedJobColsMatchJobCols(t *testing.T) {
	want := "jobs." + strings.ReplaceAll(jobCols, ", ", ", jobs.")
	got := strings.Join(strings.Fields(qualifiedJobCols), " ")
	if got != want {
		t.Fatalf("qualifiedJobCols\n got %s\nwant %s", got, want)
	}
}
