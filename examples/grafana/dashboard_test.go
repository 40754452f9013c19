package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

const dashboardFile = "revrx-supervise.json"

// promDatasource is the reference every panel, target, query variable and
// annotation query uses: the dashboard's own datasource variable.
var promDatasource = datasourceRef{Type: "prometheus", UID: "${datasource}"}

// panelTypes are the panel types the dashboard uses (and panelOptions models).
var panelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "state-timeline": true, "heatmap": true}

func TestDashboardSchema(t *testing.T) {
	d, err := loadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion = %d, want >= 36", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both must be set (the provisioned dashboard keeps its uid)", d.UID, d.Title)
	}
	if d.ID != nil {
		t.Errorf("id = %d, want null (Grafana assigns it)", *d.ID)
	}
	checkVariables(t, d.Templating.List)
	checkAnnotations(t, d.Annotations.List)
	checkPanels(t, d.allPanels())
}

// checkVariables wants a datasource variable for Prometheus data sources and
// query variables on it, among them instance from revrx_workers_desired.
func checkVariables(t *testing.T, vars []variable) {
	t.Helper()
	byName := map[string]variable{}
	for _, v := range vars {
		if _, dup := byName[v.Name]; dup {
			t.Errorf("variable %q defined twice", v.Name)
		}
		byName[v.Name] = v
		if v.Type == "query" && (v.Datasource == nil || *v.Datasource != promDatasource) {
			t.Errorf("variable %q: datasource %+v, want %+v", v.Name, v.Datasource, promDatasource)
		}
		if v.Type == "query" && v.Query != v.Definition {
			t.Errorf("variable %q: query %q and definition %q differ", v.Name, v.Query, v.Definition)
		}
	}
	if ds, ok := byName["datasource"]; !ok || ds.Type != "datasource" || ds.Query != "prometheus" {
		t.Errorf("variable datasource = %+v, want type datasource, query prometheus", ds)
	}
	instance := regexp.MustCompile(`^label_values\(revrx_workers_desired(\{[^}]*\})?, *instance\)$`)
	if v, ok := byName["instance"]; !ok || v.Type != "query" || !instance.MatchString(v.Query) {
		t.Errorf("variable instance = %+v, want a query label_values(revrx_workers_desired, instance)", v)
	}
}

func checkAnnotations(t *testing.T, annos []annotation) {
	t.Helper()
	queries := 0
	for _, a := range annos {
		if a.BuiltIn == 1 {
			continue
		}
		queries++
		if a.Datasource == nil || *a.Datasource != promDatasource {
			t.Errorf("annotation %q: datasource %+v, want %+v", a.Name, a.Datasource, promDatasource)
		}
		if a.Expr == "" || a.Step == "" || a.TitleFormat == "" {
			t.Errorf("annotation %q: expr, step and titleFormat must be set", a.Name)
		}
		if !strings.Contains(a.Expr, "revrx_scaling_events_total") {
			t.Errorf("annotation %q: expr %q does not read revrx_scaling_events_total", a.Name, a.Expr)
		}
	}
	if queries == 0 {
		t.Error("no annotation query: the scaling events must be annotated")
	}
}

// checkPanels wants unique ids, a sane grid without overlaps, and for every
// panel but a row the dashboard's datasource and at least one target.
func checkPanels(t *testing.T, panels []panel) {
	t.Helper()
	ids := map[int]string{}
	for i, p := range panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: id must be positive", name)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id also used by %q", name, other)
		}
		ids[p.ID] = p.Title
		if !panelTypes[p.Type] {
			t.Errorf("%s: type %q is not one the test models", name, p.Type)
		}
		if p.Title == "" {
			t.Errorf("panel %d: no title", p.ID)
		}
		if err := p.GridPos.check(p.Type == "row"); err != nil {
			t.Errorf("%s: gridPos %+v: %v", name, p.GridPos, err)
		}
		for _, q := range panels[:i] {
			if p.GridPos.overlaps(q.GridPos) {
				t.Errorf("%s: gridPos %+v overlaps panel %d %q at %+v", name, p.GridPos, q.ID, q.Title, q.GridPos)
			}
		}
		if p.Type == "row" {
			if len(p.Targets) > 0 || p.Datasource != nil {
				t.Errorf("%s: a row has no datasource or targets", name)
			}
			continue
		}
		checkQueries(t, name, p)
		checkOverrides(t, name, p.FieldConfig)
	}
}

func checkQueries(t *testing.T, name string, p panel) {
	t.Helper()
	if p.Datasource == nil || *p.Datasource != promDatasource {
		t.Errorf("%s: datasource %+v, want %+v", name, p.Datasource, promDatasource)
	}
	if len(p.Targets) == 0 {
		t.Errorf("%s: no targets", name)
	}
	refs := map[string]bool{}
	for _, tg := range p.Targets {
		if tg.Expr == "" || tg.RefID == "" {
			t.Errorf("%s: target %+v: expr and refId must be set", name, tg)
		}
		if refs[tg.RefID] {
			t.Errorf("%s: refId %q used twice", name, tg.RefID)
		}
		refs[tg.RefID] = true
		if tg.Datasource != nil && *tg.Datasource != promDatasource {
			t.Errorf("%s: target %s: datasource %+v, want %+v", name, tg.RefID, tg.Datasource, promDatasource)
		}
	}
}

// checkOverrides decodes every override value strictly into the type of its
// property id, and rejects a property id the test does not know.
func checkOverrides(t *testing.T, name string, fc *fieldConfig) {
	t.Helper()
	if fc == nil {
		return
	}
	for _, o := range fc.Overrides {
		if o.Matcher.ID != "byName" && o.Matcher.ID != "byRegexp" {
			t.Errorf("%s: override matcher %q, want byName or byRegexp", name, o.Matcher.ID)
		}
		if o.Matcher.ID == "byRegexp" {
			if _, err := regexp.Compile(o.Matcher.Options); err != nil {
				t.Errorf("%s: override matcher: %v", name, err)
			}
		}
		for _, prop := range o.Properties {
			newValue, ok := overrideValues[prop.ID]
			if !ok {
				t.Errorf("%s: override property %q is not one the test models", name, prop.ID)
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(prop.Value))
			dec.DisallowUnknownFields()
			if err := dec.Decode(newValue()); err != nil {
				t.Errorf("%s: override %s = %s: %v", name, prop.ID, prop.Value, err)
			}
		}
	}
}

// gridWidth is the width of Grafana's dashboard grid.
const gridWidth = 24

func (g gridPos) check(row bool) error {
	switch {
	case g.X < 0 || g.Y < 0:
		return fmt.Errorf("negative position")
	case g.W < 1 || g.H < 1:
		return fmt.Errorf("empty size")
	case g.X+g.W > gridWidth:
		return fmt.Errorf("x+w = %d, beyond the grid width %d", g.X+g.W, gridWidth)
	case row && (g.W != gridWidth || g.H != 1 || g.X != 0):
		return fmt.Errorf("a row spans the grid at height 1")
	case !row && g.H < 3:
		return fmt.Errorf("height %d is too small to show a graph", g.H)
	}
	return nil
}

func (g gridPos) overlaps(o gridPos) bool {
	return g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H
}

// TestDashboardStrictDecoding shows that the decoding is strict: a field the
// schema types do not model fails, at the top and deep in a panel.
func TestDashboardStrictDecoding(t *testing.T) {
	for _, tc := range []struct{ name, json string }{
		{"top level", `{"schemaVersoin": 39}`},
		{"grid", `{"panels": [{"id": 1, "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0, "z": 1}}]}`},
		{"target", `{"panels": [{"id": 1, "targets": [{"refId": "A", "exp": "up"}]}]}`},
		{"custom", `{"panels": [{"id": 1, "fieldConfig": {"defaults": {"custom": {"drawstyle2": "line"}}}}]}`},
		{"trailing", `{"schemaVersion": 39} {}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d dashboard
			if err := decodeStrict([]byte(tc.json), &d); err == nil {
				t.Errorf("decodeStrict(%s) = nil, want an error", tc.json)
			}
		})
	}
}
