package web

import (
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/monitor"
)

// csvPage is the keyset page size of the instance export: the store's largest page.
const csvPage = 1000

// startCSV sets the headers of a CSV download and returns a writer on the response.
func startCSV(c echo.Context, filename string) *csvWriter {
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	return &csvWriter{csv.NewWriter(c.Response())}
}

// csvWriter is the one writer of every CSV export: each cell goes through csvCell.
type csvWriter struct{ *csv.Writer }

// Write writes one row with every cell made safe for a spreadsheet.
func (w *csvWriter) Write(row []string) error {
	for i, cell := range row {
		row[i] = csvCell(cell)
	}
	return w.Writer.Write(row)
}

// csvCell neutralises a cell a spreadsheet would run as a formula (CSV injection, the
// OWASP rule): a cell that starts with = + - @, a tab or a carriage return gets a leading
// apostrophe, which spreadsheets show as text. Numbers (-5, +1.5e3) are left as they are.
func csvCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return s
		}
		return "'" + s
	}
	return s
}

// instancesCSV streams every instance the instance list's filters select (all pages, not
// one: the list's after and limit are ignored), walking the keyset pages so that memory
// stays at one page however many rows match.
func (s *server) instancesCSV(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	q.Del("after")
	q.Del("limit")
	f, _, err := s.parseInstanceFilter(c, q)
	if err != nil {
		return err
	}
	f.Limit = csvPage
	// The first page is read before the headers go out, so a bad filter is still a clean
	// 400 page rather than a broken download.
	list, err := s.eng.ListInstances(ctx, f)
	if err != nil {
		return err // an engine.ErrInvalidInput is a 400 (handleError)
	}
	w := startCSV(c, "instances-"+s.now().UTC().Format("20060102T150405Z")+".csv")
	_ = w.Write([]string{"id", "process", "version", "business_key", "state", "open_incidents", "started_at", "ended_at", "duration_ms"})
	for {
		for _, in := range list.Instances {
			ended, dur := "", ""
			if in.EndedAt != nil {
				ended = in.EndedAt.UTC().Format(time.RFC3339Nano)
				dur = ms(in.EndedAt.Sub(in.StartedAt))
			}
			_ = w.Write([]string{in.ID, in.DefinitionKey, strconv.Itoa(in.DefinitionVersion), in.BusinessKey, in.State,
				strconv.Itoa(in.IncidentCount), in.StartedAt.UTC().Format(time.RFC3339Nano), ended, dur})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return nil // the client went away
		}
		if list.Next == "" {
			return nil
		}
		f.After = list.Next
		if list, err = s.eng.ListInstances(ctx, f); err != nil {
			// The status is sent: cut the connection so the client sees an incomplete
			// download instead of a short file that looks whole.
			s.log.Error("web: instances.csv", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// ms writes a duration in milliseconds, with microseconds as decimals where there are any.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
}

// analyticsCSV serves the analytics page's tables: elements.csv, flows.csv, series.csv
// and distribution.csv, from the same parameters as the page.
func (s *server) analyticsCSV(c echo.Context) error {
	table, ok := strings.CutSuffix(c.Param("table"), ".csv")
	if !ok || (table != "elements" && table != "flows" && table != "series" && table != "distribution") {
		return notFound("There is no table %q: the tables are elements.csv, flows.csv, series.csv and distribution.csv.", c.Param("table"))
	}
	ctx := c.Request().Context()
	a, err := s.parseAnalytics(c)
	if err != nil {
		return err
	}
	a.pointDurations = table == "series"
	rep, err := s.report(ctx, a, a.version)
	if err != nil {
		return err
	}
	model, err := s.eng.Model(ctx, a.def(a.version).ID)
	if err != nil {
		return err
	}
	proc := model.Process(a.key)
	v := "all"
	if a.version > 0 {
		v = "v" + strconv.Itoa(a.version)
	}
	name := fmt.Sprintf("%s-%s-%s-%s-%s.csv", a.key, v, table,
		rep.Query.From.UTC().Format("20060102T1504Z"), rep.Query.To.UTC().Format("20060102T1504Z"))
	w := startCSV(c, name)
	switch table {
	case "elements":
		writeElementsCSV(w, rep, proc)
	case "flows":
		writeFlowsCSV(w, rep, proc)
	case "series":
		_ = w.Write([]string{"bucket_start", "started", "completed", "cancelled", "incidents",
			"duration_count", "duration_avg_ms", "duration_p50_ms", "duration_p95_ms", "duration_p99_ms", "duration_max_ms"})
		for _, p := range rep.Series {
			_ = w.Write(append([]string{p.Start.UTC().Format(time.RFC3339), i64(p.Started), i64(p.Completed), i64(p.Cancelled), i64(p.Incidents)},
				statsCols(p.Duration)...))
		}
	case "distribution":
		_ = w.Write([]string{"upper_ms", "count"})
		for _, b := range rep.Distribution {
			_ = w.Write([]string{ms(b.Upper), i64(b.Count)})
		}
	}
	w.Flush()
	return nil
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// statsCols are count, avg, p50, p95, p99 and max (ms); durations are empty without
// observations, so a spreadsheet does not average in zeros.
func statsCols(st monitor.Stats) []string {
	if st.Count == 0 {
		return []string{"0", "", "", "", "", ""}
	}
	return []string{i64(st.Count), ms(st.Avg()), ms(st.P50), ms(st.P95), ms(st.P99), ms(st.Max)}
}

func writeElementsCSV(w *csvWriter, rep *monitor.Report, proc *bpmn.Process) {
	kinds, names := elementInfo(proc)
	_ = w.Write([]string{"element_id", "name", "kind", "entered", "left", "cancelled", "incidents",
		"duration_count", "duration_avg_ms", "duration_p50_ms", "duration_p95_ms", "duration_p99_ms", "duration_max_ms",
		"waiting_count", "waiting_avg_ms", "waiting_p50_ms", "waiting_p95_ms", "waiting_p99_ms", "waiting_max_ms", "interrupted"})
	for _, e := range rep.Elements {
		row := []string{e.ElementID, names[e.ElementID], string(kinds[e.ElementID]), i64(e.Entered), i64(e.Left), i64(e.Cancelled), i64(e.Incidents)}
		row = append(row, statsCols(e.Duration)...)
		row = append(row, statsCols(e.Waiting)...)
		_ = w.Write(append(row, i64(e.Interrupted))) // last: the columns before it kept their places
	}
}

func writeFlowsCSV(w *csvWriter, rep *monitor.Report, proc *bpmn.Process) {
	flows := map[string]*bpmn.SequenceFlow{}
	for _, f := range sequenceFlows(proc) {
		flows[f.ID] = f
	}
	_ = w.Write([]string{"flow_id", "name", "source", "target", "taken"})
	for _, f := range rep.Flows {
		var name, src, dst string
		if sf := flows[f.FlowID]; sf != nil {
			name, src, dst = sf.Name, sf.SourceRef, sf.TargetRef
		}
		_ = w.Write([]string{f.FlowID, name, src, dst, i64(f.Taken)})
	}
}
