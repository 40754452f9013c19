package supervisor

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

var tl0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

// tick is one recorded decision, at tl0 plus at.
type tick struct {
	at               time.Duration
	depth            int64
	workers, desired int
}

// status is what record would publish for k: the depth split over two
// queues, and one extra worker in backoff (which does not count).
func (k tick) status() (Status, policy.Decision) {
	st := Status{Time: tl0.Add(k.at), Queues: map[string]QueueStatus{
		"a": {Messages: k.depth / 2}, "b": {Messages: k.depth - k.depth/2}}}
	for i := range k.workers {
		st.Workers = append(st.Workers, WorkerStatus{Name: fmt.Sprint("w", i), State: policy.PhaseIdle})
	}
	st.Workers = append(st.Workers, WorkerStatus{Name: "crashing", State: policy.PhaseBackoff})
	return st, policy.Decision{Desired: k.desired}
}

func sample(at time.Duration, depth int64, workers, desired int) Sample {
	return Sample{At: tl0.Add(at), Depth: depth, Workers: workers, Desired: desired}
}

func TestTimelineSamples(t *testing.T) {
	every := func(gap, until time.Duration) []tick {
		var ks []tick
		for at := time.Duration(0); at <= until; at += gap {
			ks = append(ks, tick{at: at, depth: int64(at / time.Second), workers: 1, desired: 1})
		}
		return ks
	}
	tests := []struct {
		name  string
		ticks []tick
		now   time.Duration // view at tl0 plus now
		want  []Sample      // nil: check only wantLen and wantFirst
		// for long runs
		wantLen   int
		wantFirst time.Time
	}{
		{name: "nothing recorded", now: time.Minute},
		{
			name:  "one tick is one point; backoff workers do not count; queues are summed",
			ticks: []tick{{at: 0, depth: 7, workers: 2, desired: 3}},
			want:  []Sample{sample(0, 7, 2, 3)},
		},
		{
			name: "ticks within one step fold into its first point with the maxima",
			ticks: []tick{
				{at: 0, depth: 3, workers: 1, desired: 1},
				{at: 2 * time.Second, depth: 10, workers: 1, desired: 2},
				{at: 4900 * time.Millisecond, depth: 0, workers: 2, desired: 2},
				{at: 5 * time.Second, depth: 1, workers: 2, desired: 1},
				{at: 9 * time.Second, depth: 0, workers: 1, desired: 1},
				{at: 30 * time.Second, depth: 0, workers: 1, desired: 1},
			},
			now:  30 * time.Second,
			want: []Sample{sample(0, 10, 2, 2), sample(5*time.Second, 1, 2, 1), sample(30*time.Second, 0, 1, 1)},
		},
		{
			name: "points older than the hour are dropped",
			ticks: []tick{
				{at: 0, depth: 1, workers: 1, desired: 1},
				{at: 30 * time.Minute, depth: 2, workers: 1, desired: 1},
				{at: 61 * time.Minute, depth: 3, workers: 1, desired: 1},
			},
			now:  61 * time.Minute,
			want: []Sample{sample(30*time.Minute, 2, 1, 1), sample(61*time.Minute, 3, 1, 1)},
		},
		{
			name:  "the view leaves out what the hour before now no longer covers",
			ticks: []tick{{at: 0, depth: 1, workers: 1, desired: 1}, {at: 10 * time.Minute, depth: 2, workers: 1, desired: 1}},
			now:   65 * time.Minute,
			want:  []Sample{sample(10*time.Minute, 2, 1, 1)},
		},
		{
			name:      "a tick every 250 ms for three hours keeps one point per 5 s of the last hour",
			ticks:     every(250*time.Millisecond, 3*time.Hour),
			now:       3 * time.Hour,
			wantLen:   720,
			wantFirst: tl0.Add(2*time.Hour + 5*time.Second),
		},
		{
			name:      "a tick every 5 s for two hours never holds more than 720 points",
			ticks:     every(5*time.Second, 2*time.Hour),
			now:       2 * time.Hour,
			wantLen:   720,
			wantFirst: tl0.Add(time.Hour + 5*time.Second),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTimeline(timelineStep, TimelineWindow, timelineDecisions)
			for _, k := range tc.ticks {
				tl.record(k.status())
			}
			got, _ := tl.view(tl0.Add(tc.now))
			if tc.wantLen == 0 {
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("view() = %v,\nwant %v", got, tc.want)
				}
				return
			}
			if len(got) != tc.wantLen || !got[0].At.Equal(tc.wantFirst) {
				t.Errorf("view() = %d points from %s, want %d from %s", len(got), got[0].At, tc.wantLen, tc.wantFirst)
			}
			if tl.samples.size > int(TimelineWindow/timelineStep) {
				t.Errorf("ring holds %d points, want at most %d", tl.samples.size, TimelineWindow/timelineStep)
			}
		})
	}
}

func TestTimelineDecisions(t *testing.T) {
	d := func(desired, start int, stop ...string) policy.Decision {
		dec := policy.Decision{Desired: desired, Current: desired - start, Start: start,
			Reason: fmt.Sprintf("desired %d start %d", desired, start)}
		for _, name := range stop {
			dec.Stop = append(dec.Stop, policy.Stop{Name: name})
		}
		return dec
	}
	many := make([]policy.Decision, 25)
	for i := range many {
		many[i] = d(i, 0)
	}
	tests := []struct {
		name      string
		decisions []policy.Decision
		want      []string // reasons kept, newest first
	}{
		{name: "the first decision counts as a change", decisions: []policy.Decision{d(1, 1)}, want: []string{"desired 1 start 1"}},
		{
			name:      "repeats of the same desired count are left out",
			decisions: []policy.Decision{d(1, 1), d(1, 0), d(1, 0), d(2, 1), d(2, 0)},
			want:      []string{"desired 2 start 1", "desired 1 start 1"},
		},
		{
			name:      "a start or a stop counts even when the desired count stays",
			decisions: []policy.Decision{d(2, 0), d(2, 1), d(2, 0, "w1@h")},
			want:      []string{"desired 2 start 0", "desired 2 start 1", "desired 2 start 0"},
		},
		{
			name: "a blocked scale-up counts",
			decisions: []policy.Decision{d(2, 0), {Desired: 2, Blocked: policy.BlockedReason("cpu"), Reason: "held by cpu"},
				{Desired: 2, Blocked: policy.BlockedReason("cpu"), Reason: "still held"}},
			want: []string{"held by cpu", "desired 2 start 0"},
		},
		{
			name:      "only the last 20 are kept",
			decisions: many,
			want: func() []string {
				var out []string
				for i := 24; i >= 5; i-- {
					out = append(out, fmt.Sprintf("desired %d start 0", i))
				}
				return out
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTimeline(timelineStep, TimelineWindow, timelineDecisions)
			for i, dec := range tc.decisions {
				tl.record(Status{Time: tl0.Add(time.Duration(i) * time.Second)}, dec)
			}
			_, evs := tl.view(tl0.Add(time.Minute))
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Reason)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decisions = %q,\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRing(t *testing.T) {
	r := newRing[int](3)
	for i := range 5 {
		r.push(i)
	}
	if got := r.all(); !reflect.DeepEqual(got, []int{2, 3, 4}) {
		t.Errorf("after 5 pushes into 3: %v, want [2 3 4]", got)
	}
	r.dropFirst()
	r.setLast(9)
	if got := r.all(); !reflect.DeepEqual(got, []int{3, 9}) {
		t.Errorf("after dropFirst and setLast(9): %v, want [3 9]", got)
	}
}
