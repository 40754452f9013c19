// Package grafana tests the Grafana dashboard revrx-supervise.json and its
// provisioning files: the JSON against the part of Grafana's dashboard schema
// it uses (strictly, so a misspelled field fails), every PromQL expression
// against promtool, and every metric name against what the supervisor exports
// and the recording rules in examples/prometheus/rules.yml.
package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// The types below model the fields of Grafana's dashboard JSON (schemaVersion
// 39) that revrx-supervise.json uses, and nothing more: decodeStrict rejects
// any other field, so a new field is added here on purpose.

type dashboard struct {
	Annotations   struct{ List []annotation } `json:"annotations"`
	Description   string                      `json:"description"`
	Editable      bool                        `json:"editable"`
	GraphTooltip  int                         `json:"graphTooltip"`
	ID            *int                        `json:"id"`
	Links         []struct{}                  `json:"links"`
	Panels        []panel                     `json:"panels"`
	Refresh       string                      `json:"refresh"`
	SchemaVersion int                         `json:"schemaVersion"`
	Tags          []string                    `json:"tags"`
	Templating    struct{ List []variable }   `json:"templating"`
	Time          struct{ From, To string }   `json:"time"`
	Timepicker    struct{}                    `json:"timepicker"`
	Timezone      string                      `json:"timezone"`
	Title         string                      `json:"title"`
	UID           string                      `json:"uid"`
	Version       int                         `json:"version"`
	WeekStart     string                      `json:"weekStart"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// annotation is a built-in annotation or a Prometheus annotation query in
// Grafana's legacy form (expr, step, …), which every Grafana since 7 reads.
type annotation struct {
	BuiltIn         int            `json:"builtIn"`
	Datasource      *datasourceRef `json:"datasource"`
	Enable          bool           `json:"enable"`
	Hide            bool           `json:"hide"`
	IconColor       string         `json:"iconColor"`
	Name            string         `json:"name"`
	Type            string         `json:"type"`
	Expr            string         `json:"expr"`
	Step            string         `json:"step"`
	TitleFormat     string         `json:"titleFormat"`
	TextFormat      string         `json:"textFormat"`
	TagKeys         string         `json:"tagKeys"`
	UseValueForTime *bool          `json:"useValueForTime"`
}

type variable struct {
	Name       string         `json:"name"`
	Label      string         `json:"label"`
	Type       string         `json:"type"`
	Query      string         `json:"query"`
	Definition string         `json:"definition"`
	Datasource *datasourceRef `json:"datasource"`
	Current    struct{}       `json:"current"`
	Hide       int            `json:"hide"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue"`
	Multi      bool           `json:"multi"`
	Options    []struct{}     `json:"options"`
	Refresh    int            `json:"refresh"`
	Regex      string         `json:"regex"`
	Sort       int            `json:"sort"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Collapsed   bool           `json:"collapsed"`
	GridPos     gridPos        `json:"gridPos"`
	Datasource  *datasourceRef `json:"datasource"`
	FieldConfig *fieldConfig   `json:"fieldConfig"`
	Options     *panelOptions  `json:"options"`
	Targets     []target       `json:"targets"`
	Panels      []panel        `json:"panels"` // a row's collapsed panels
}

type gridPos struct{ H, W, X, Y int }

type target struct {
	Datasource   *datasourceRef `json:"datasource"`
	RefID        string         `json:"refId"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
	Range        *bool          `json:"range"`
	Instant      *bool          `json:"instant"`
	EditorMode   string         `json:"editorMode"`
	Format       string         `json:"format"`
}

type fieldConfig struct {
	Defaults  fieldDefaults `json:"defaults"`
	Overrides []override    `json:"overrides"`
}

type fieldDefaults struct {
	Unit       string         `json:"unit"`
	Min        *float64       `json:"min"`
	Max        *float64       `json:"max"`
	Decimals   *int           `json:"decimals"`
	Color      *fieldColor    `json:"color"`
	Custom     *fieldCustom   `json:"custom"`
	Thresholds *thresholds    `json:"thresholds"`
	Mappings   []valueMapping `json:"mappings"`
}

type fieldColor struct {
	Mode       string `json:"mode"`
	FixedColor string `json:"fixedColor"`
}

// fieldCustom holds the custom field options of the timeseries,
// state-timeline and heatmap panels.
type fieldCustom struct {
	DrawStyle         string     `json:"drawStyle"`
	LineWidth         *int       `json:"lineWidth"`
	FillOpacity       *int       `json:"fillOpacity"`
	LineInterpolation string     `json:"lineInterpolation"`
	ShowPoints        string     `json:"showPoints"`
	SpanNulls         *bool      `json:"spanNulls"`
	Stacking          *stacking  `json:"stacking"`
	HideFrom          *hideFrom  `json:"hideFrom"`
	LineStyle         *lineStyle `json:"lineStyle"`
	AxisPlacement     string     `json:"axisPlacement"`
	AxisLabel         string     `json:"axisLabel"`
}

type stacking struct{ Mode, Group string }

type hideFrom struct{ Legend, Tooltip, Viz bool }

type lineStyle struct {
	Fill string `json:"fill"`
	Dash []int  `json:"dash"`
}

type thresholds struct {
	Mode  string `json:"mode"`
	Steps []struct {
		Color string   `json:"color"`
		Value *float64 `json:"value"`
	} `json:"steps"`
}

type valueMapping struct {
	Type    string `json:"type"`
	Options map[string]struct {
		Text  string `json:"text"`
		Color string `json:"color"`
		Index int    `json:"index"`
	} `json:"options"`
}

type override struct {
	Matcher struct {
		ID      string `json:"id"`
		Options string `json:"options"`
	} `json:"matcher"`
	Properties []struct {
		ID    string          `json:"id"`
		Value json.RawMessage `json:"value"`
	} `json:"properties"`
}

// overrideValues gives, for every override property id the dashboard uses,
// the type its value decodes into (strictly, as the rest).
var overrideValues = map[string]func() any{
	"color":                func() any { return new(fieldColor) },
	"unit":                 func() any { return new(string) },
	"custom.lineStyle":     func() any { return new(lineStyle) },
	"custom.fillOpacity":   func() any { return new(int) },
	"custom.axisPlacement": func() any { return new(string) },
	"custom.axisLabel":     func() any { return new(string) },
}

// panelOptions holds the options of every panel type the dashboard uses:
// timeseries (legend, tooltip), stat (reduceOptions …), state-timeline
// (showValue …) and heatmap (calculate …).
type panelOptions struct {
	Legend        *legend        `json:"legend"`
	Tooltip       *tooltip       `json:"tooltip"`
	ReduceOptions *reduceOptions `json:"reduceOptions"`
	ColorMode     string         `json:"colorMode"`
	GraphMode     string         `json:"graphMode"`
	TextMode      string         `json:"textMode"`
	JustifyMode   string         `json:"justifyMode"`
	Orientation   string         `json:"orientation"`
	ShowValue     string         `json:"showValue"`
	MergeValues   *bool          `json:"mergeValues"`
	RowHeight     *float64       `json:"rowHeight"`
	AlignValue    string         `json:"alignValue"`
	Calculate     *bool          `json:"calculate"`
	CellGap       *int           `json:"cellGap"`
	Color         *heatmapColor  `json:"color"`
	YAxis         *struct {
		Unit          string `json:"unit"`
		AxisPlacement string `json:"axisPlacement"`
		Reverse       bool   `json:"reverse"`
	} `json:"yAxis"`
	RowsFrame    *struct{ Layout string } `json:"rowsFrame"`
	FilterValues *struct{ Le float64 }    `json:"filterValues"`
}

type legend struct {
	ShowLegend  *bool    `json:"showLegend"`
	Show        *bool    `json:"show"` // heatmap
	DisplayMode string   `json:"displayMode"`
	Placement   string   `json:"placement"`
	Calcs       []string `json:"calcs"`
}

type tooltip struct {
	Mode           string `json:"mode"`
	Sort           string `json:"sort"`
	YHistogram     *bool  `json:"yHistogram"`
	ShowColorScale *bool  `json:"showColorScale"`
}

type reduceOptions struct {
	Calcs  []string `json:"calcs"`
	Fields string   `json:"fields"`
	Values bool     `json:"values"`
}

type heatmapColor struct {
	Mode     string  `json:"mode"`
	Scheme   string  `json:"scheme"`
	Fill     string  `json:"fill"`
	Scale    string  `json:"scale"`
	Exponent float64 `json:"exponent"`
	Steps    int     `json:"steps"`
	Reverse  bool    `json:"reverse"`
}

// decodeStrict decodes one JSON value from data into v, failing on a field v
// does not model (at any depth) and on anything after the value.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// loadDashboard reads and strictly decodes the dashboard at path.
func loadDashboard(path string) (*dashboard, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := decodeStrict(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// allPanels returns the dashboard's panels, a row's collapsed ones included.
func (d *dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}
