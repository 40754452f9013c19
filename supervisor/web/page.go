package web

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
)

// pageRefresh is how often the status page at / reloads itself.
const pageRefresh = 5 * time.Second

//go:embed page.html
var pageHTML string

// pageTemplate is the status page. html/template escapes by context: worker
// names, reasons and the app's output are untrusted text.
var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"clock":   func(t time.Time) string { return t.Format("15:04:05") },
	"seconds": seconds,
	"join":    strings.Join,
	"percent": func(ratio float64) string { return strconv.FormatFloat(100*ratio, 'f', 0, 64) + " %" },
	"psec":    processSeconds,
}).Parse(pageHTML))

// pageData is what the page template reads.
type pageData struct {
	Status     supervisor.Status
	Refresh    int // seconds
	Chart      chart
	Queues     []pageQueue
	Groups     []pageGroup
	Efficiency []pageEfficiency
	Decisions  []supervisor.DecisionEvent
}

// pageGroup is one row of the queue groups table.
type pageGroup struct {
	supervisor.GroupStatus
	Queues     []string
	Min, Max   int
	Alive      int // processes alive, stopping ones included
	Busy       int
	Main       string
	MainPID    int
	MainState  string
	LastReason string
}

// groupRows turns a host's groups into the table's rows.
func groupRows(st supervisor.Status) []pageGroup {
	var rows []pageGroup
	for _, g := range st.Groups {
		if g.Group == nil {
			continue
		}
		r := pageGroup{GroupStatus: *g.Group, Min: g.Policy.MinNow, Max: g.Policy.MaxNow, LastReason: g.LastDecision.Reason}
		for q := range g.Queues {
			r.Queues = append(r.Queues, q)
		}
		slices.Sort(r.Queues)
		_, busy := g.WorkersUp()
		r.Alive, r.Busy = len(g.Workers), busy
		if e := g.Engine; e != nil {
			r.Main, r.MainPID, r.MainState = e.Main.Name, e.Main.PID, string(e.Main.State)
		}
		rows = append(rows, r)
	}
	return rows
}

// pageQueue is one row of the queues table.
type pageQueue struct {
	Name string
	supervisor.QueueStatus
}

// servePage answers / with the self-contained HTML status page: a chart of
// the last hour, the queue groups, the last hour's efficiency, the workers,
// the queues, the policy and the last decisions that changed something. It
// reloads itself every pageRefresh.
func (s *server) servePage(w http.ResponseWriter, _ *http.Request) {
	st := s.src.Snapshot()
	samples, decisions := s.src.Timeline(st.Time)
	data := pageData{Status: st, Refresh: int(pageRefresh / time.Second),
		Chart: newChart(samples, st.Time, supervisor.TimelineWindow), Decisions: decisions, Groups: groupRows(st),
		Efficiency: efficiencyRows(st)}
	for name, q := range st.Queues {
		data.Queues = append(data.Queues, pageQueue{Name: name, QueueStatus: q})
	}
	slices.SortFunc(data.Queues, func(a, b pageQueue) int { return strings.Compare(a.Name, b.Name) })

	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, data); err != nil {
		s.log.Error("render the status page", "err", err)
		http.Error(w, "cannot render the status page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// seconds formats a count of seconds as a short duration ("" for zero).
func seconds(v float64) string {
	if v <= 0 {
		return ""
	}
	d := time.Duration(v * float64(time.Second))
	if d < time.Minute {
		return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	}
	return d.Round(time.Second).String()
}
