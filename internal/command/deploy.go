package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Deployments are not commands of the service (a BPMN document is larger than a NATS
// message should be); the web UI and the Camunda REST API deploy on their own engine. They
// keep the audit invariant all the same, through Deploy: no audit row, no deployment.

// MaxResourceBytes bounds a deployment's resource (the file's name): it is the target of
// the deployment's audit row, an indexed column, bounded as a command's target is.
const MaxResourceBytes = maxTargetBytes

// ErrAuditUnavailable means a deployment's audit row could not be written, so nothing
// was deployed (the store may be unavailable; try again).
var ErrAuditUnavailable = errors.New("the audit log could not be written")

// deployAuditTimeout bounds each write of a deployment's audit row.
const deployAuditTimeout = 5 * time.Second

// Deployer is what Deploy uses of the engine.
type Deployer interface {
	Deploy(ctx context.Context, resource string, data []byte) (*engine.Deployment, error)
	BeginAudit(ctx context.Context, a *store.AuditEntry) error
	FinishAudit(ctx context.Context, a *store.AuditEntry) error
}

// DeployRequest is one audited deployment.
type DeployRequest struct {
	// Actor names the operator (CheckActor); Reason says where the deployment came from.
	Actor  string
	Reason string
	// Resource is the document's name (ResourceName of the uploaded file's), at most
	// MaxResourceBytes.
	Resource string
	Data     []byte
	// Now is the audit row's time.
	Now time.Time
	// Log receives a failed write of the audit row's result (default slog.Default()).
	Log *slog.Logger
}

// Deploy deploys a BPMN document in an operator's name. Its audit row (command "deploy",
// the resource as target, its size and checksum as request) is written first, with
// Result store.AuditStarted; the deployment runs only when that write succeeded, and the
// row gets its result and the processes deployed afterwards. Errors: a *Error for a
// refused actor or resource (nothing written), ErrAuditUnavailable (wrapped; nothing
// deployed), or the engine's error of the deployment (an *engine.DeployError for a
// document it refuses).
func Deploy(ctx context.Context, e Deployer, req DeployRequest) (*engine.Deployment, error) {
	if req.Log == nil {
		req.Log = slog.Default()
	}
	if err := CheckActor(req.Actor); err != nil {
		return nil, err
	}
	if len(req.Resource) > MaxResourceBytes {
		return nil, errorf(CodeInvalidInput, "the resource name is %d bytes, more than the limit of %d bytes (the audit log indexes it)",
			len(req.Resource), MaxResourceBytes)
	}
	sum := sha256.Sum256(req.Data)
	body, _ := json.Marshal(map[string]any{"resource": req.Resource, "bytes": len(req.Data), "checksum": hex.EncodeToString(sum[:])})
	a := &store.AuditEntry{ID: uuid.Must(uuid.NewV7()).String(), Time: req.Now, Actor: req.Actor,
		Command: "deploy", Target: req.Resource, Reason: req.Reason, Request: body, Result: store.AuditStarted}
	// The row is written even when the caller has gone: a deployment that ran must
	// have its row.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deployAuditTimeout)
	err := e.BeginAudit(actx, a)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("deploy %q: %w: %w", req.Resource, ErrAuditUnavailable, err)
	}
	dep, derr := e.Deploy(ctx, req.Resource, req.Data)
	if dep != nil {
		var r map[string]any
		_ = json.Unmarshal(a.Request, &r) // written above
		var procs []map[string]any
		for _, p := range dep.Processes {
			procs = append(procs, map[string]any{"key": p.Definition.Key, "version": p.Definition.Version, "created": p.Created})
		}
		r["processes"] = procs
		a.Request, _ = json.Marshal(r)
	}
	a.Result = "ok"
	if derr != nil {
		a.Result, a.Error = string(CodeInternal), store.StorableText(derr.Error())
		var de *engine.DeployError
		if errors.As(derr, &de) || errors.Is(derr, engine.ErrInvalidInput) {
			a.Result = string(CodeInvalidInput)
		}
	}
	actx, cancel = context.WithTimeout(context.WithoutCancel(ctx), deployAuditTimeout)
	defer cancel()
	if err := e.FinishAudit(actx, a); err != nil {
		req.Log.Error("write audit result (the row stays \"started\")", "command", "deploy", "actor", a.Actor, "err", err)
	}
	return dep, derr
}

// ResourceName is the resource name of an uploaded file: its base name (either slash),
// without what no store can hold or a page should show (invalid UTF-8, control
// characters); fallback when nothing is left.
func ResourceName(filename, fallback string) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(path.Base(strings.ReplaceAll(filename, "\\", "/")), ""))
	if name == "" || name == "." || name == "/" {
		return fallback
	}
	return name
}
