package simulate

import (
	"slices"
	"testing"
	"time"
)

func TestRampDirective(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Window
		wantErr []string // substrings of the error
	}{
		{
			name: "windows in any order, decimals, trailing words",
			in:   "# ramp 60-80\n0 1 1\n  #ramp 2.5-3.25 (second period)\n# ramp 10-20 # nested\n",
			want: []Window{{60 * time.Second, 80 * time.Second, 1}, {2500 * time.Millisecond, 3250 * time.Millisecond, 3}, {10 * time.Second, 20 * time.Second, 4}},
		},
		{name: "ordinary comments", in: "# ramp up to 6/s, then down\n# ramp\n# the ramp 1-2\n0 1 1 # ramp 1-2\n# Ramp 1-2\n", want: nil},
		{name: "no dash", in: "0 1 1\n# ramp 60\n", wantErr: []string{"t:2:", `ramp "60"`, "# ramp START-END"}},
		{name: "bad start", in: "# ramp 6x-80\n0 1 1\n", wantErr: []string{"t:1:", `START "6x"`}},
		{name: "bad end", in: "# ramp 60-\n0 1 1\n", wantErr: []string{"t:1:", `END ""`}},
		{name: "negative end", in: "# ramp 60--80\n0 1 1\n", wantErr: []string{"t:1:", `END "-80"`, "negative"}},
		{name: "end before start", in: "# ramp 80-60\n0 1 1\n", wantErr: []string{"t:1:", "END must be after START"}},
		{name: "empty window", in: "# ramp 60-60\n0 1 1\n", wantErr: []string{"t:1:", "END must be after START"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseCase(t, tt.in, tt.wantErr)
			if !ok {
				return
			}
			if !slices.Equal(got.Ramps, tt.want) {
				t.Errorf("ParseTrace(%q).Ramps = %v, want %v", tt.in, got.Ramps, tt.want)
			}
		})
	}
}

func TestInRamp(t *testing.T) {
	tr := mustTrace(t, "# ramp 10-20\n# ramp 30-30.5\n0 1 1\n10 2 1\n19.9 1 1\n20 4 1\n30.25 8 1\n")
	for _, tt := range []struct {
		at   float64
		want bool
	}{{0, false}, {9.999, false}, {10, true}, {19.999, true}, {20, false}, {30, true}, {30.5, false}} {
		if got := tr.InRamp(sec(tt.at)); got != tt.want {
			t.Errorf("InRamp(%g s) = %v, want %v", tt.at, got, tt.want)
		}
	}
	if got := tr.RampTasks(); got != 11 {
		t.Errorf("RampTasks() = %d, want 11 (2 at 10 s, 1 at 19.9 s, 8 at 30.25 s)", got)
	}
}

// TestRampWaits: only the tasks arriving in a ramp window count in
// RampWaits, with their waits: one worker, 1 s tasks, the three tasks of
// the burst at 5 s wait 0, 1 and 2 s; the task at 0 s and the one at 8 s
// (at the window's end) do not count.
func TestRampWaits(t *testing.T) {
	tr := mustTrace(t, "# ramp 5-8\n0 1 1\n5 3 1\n8 1 1\n")
	r, err := Run(tr, testModel(1, 1, 1, 30*time.Second), DefaultStart, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []TaskWait{{sec(5), 0}, {sec(5), sec(1)}, {sec(5), sec(2)}}
	if !slices.Equal(r.RampWaits, want) {
		t.Errorf("RampWaits = %v, want %v", r.RampWaits, want)
	}
	for _, tt := range []struct {
		q    float64
		from time.Duration
		want time.Duration
	}{{95, 0, sec(2)}, {50, 0, sec(1)}, {1, 0, 0}, {95, sec(5), sec(2)}, {95, sec(6), 0}} {
		if got := r.RampWait(tt.q, tt.from); got != tt.want {
			t.Errorf("RampWait(%g, %s) = %s, want %s", tt.q, tt.from, got, tt.want)
		}
	}
	if len(r.Waits) != 5 {
		t.Errorf("Waits = %v, want all 5 tasks", r.Waits)
	}
}

// TestRampWaitsWithGroups: each group's trace keeps the ramp windows, and
// the host's RampWaits gathers the groups' own.
func TestRampWaitsWithGroups(t *testing.T) {
	tr := mustTrace(t, "# ramp 2-3\n0 1 1 video\n2 2 1 audio\n2 1 1 video\n")
	traces, err := SplitTrace(tr, videoAudio().Groups)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range traces {
		if !slices.Equal(g.Ramps, tr.Ramps) {
			t.Errorf("%s: ramps %v, want the trace's %v", g.Name, g.Ramps, tr.Ramps)
		}
	}
	r, err := Run(tr, videoAudio(), DefaultStart, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var want []TaskWait
	for _, g := range r.Groups {
		want = append(want, g.RampWaits...)
	}
	if len(r.RampWaits) != 3 || !slices.Equal(r.RampWaits, want) {
		t.Errorf("host RampWaits = %v, want the groups' %v (3 tasks)", r.RampWaits, want)
	}
}
