package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// opKey carries the name of the store operation (e.g. "apply") to the tracer.
type opKey struct{}

// withOp names the operation for the slow-statement log; a no-op without a tracer, so the
// hot path allocates nothing for it.
func (t *tx) withOp(ctx context.Context, op string) context.Context {
	if !t.traced {
		return ctx
	}
	return context.WithValue(ctx, opKey{}, op)
}

// slowTracer logs statements and batches that take longer than threshold, with the
// operation that ran them.
type slowTracer struct {
	log       *slog.Logger
	threshold time.Duration
}

type traceStart struct {
	at  time.Time
	sql string
	n   int
}

type traceKey struct{}

var (
	_ pgx.QueryTracer = (*slowTracer)(nil)
	_ pgx.BatchTracer = (*slowTracer)(nil)
)

func (st *slowTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{at: time.Now(), sql: d.SQL, n: 1})
}

func (st *slowTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	st.end(ctx, d.Err)
}

func (st *slowTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	ts := traceStart{at: time.Now(), n: d.Batch.Len()}
	if ts.n > 0 {
		ts.sql = d.Batch.QueuedQueries[ts.n-1].SQL
	}
	return context.WithValue(ctx, traceKey{}, ts)
}

func (st *slowTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (st *slowTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	st.end(ctx, d.Err)
}

func (st *slowTracer) end(ctx context.Context, err error) {
	ts, ok := ctx.Value(traceKey{}).(traceStart)
	if !ok {
		return
	}
	took := time.Since(ts.at)
	if took < st.threshold {
		return
	}
	op, _ := ctx.Value(opKey{}).(string)
	sql := ts.sql
	if len(sql) > 200 {
		sql = sql[:200] + "…"
	}
	attrs := []any{"op", op, "took", took, "statements", ts.n, "sql", sql}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	st.log.WarnContext(ctx, "slow postgres statement", attrs...)
}
