package job_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/job"
)

// A typed handler: the variables arrive as a struct, the result leaves as variables.
func ExampleJSON() {
	type in struct {
		Amount float64 `json:"amount"`
	}
	type out struct {
		Fee float64 `json:"fee"`
	}
	h := job.JSON(func(ctx context.Context, j *job.Job, v in) (out, error) {
		return out{Fee: v.Amount * 0.02}, nil
	})
	vars, err := h(context.Background(), &job.Job{Type: "fee", Variables: map[string]any{"amount": 150.0, "other": true}})
	fmt.Println(vars, err)

	_, err = h(context.Background(), &job.Job{Type: "fee", Variables: map[string]any{"amount": "a lot"}})
	fmt.Println(err != nil)
	// Output:
	// map[fee:3] <nil>
	// true
}

// A business error: the task's boundary error event with the same code catches it.
func ExampleThrow() {
	err := job.Throw("OUT_OF_STOCK", "sku 42")
	var be *job.BPMNError
	fmt.Println(errors.As(err, &be), be.Code)
	// Output:
	// true OUT_OF_STOCK
}
