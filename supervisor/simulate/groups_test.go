package simulate

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// videoAudio is what `simulate --autoscale=10,0 --keepalive=10s -Q
// video:0-10,audio:0-10` runs: the pool engine, one pool per group under a
// host budget of 10, rebalancing at once (--rebalance-after's default, 0).
func videoAudio() Model {
	p := referencePolicy()
	p.Min, p.Keepalive = 0, 10*time.Second
	m := PoolModel(p)
	m.Groups = []Group{{Name: "video", Queues: []string{"video"}, Max: 10}, {Name: "audio", Queues: []string{"audio"}, Max: 10}}
	m.RebalanceAfter = 0
	return m
}

// TestGoldenGroups: the multi-queue trace video-audio (a steady stream of
// 25 s video tasks, bursts of 0.5 s audio ones) with one pool per group
// prints the summary and chart in testdata, finishes every task, and never
// has more than MAX processes alive together nor a group above its cap.
func TestGoldenGroups(t *testing.T) {
	summary, svg, rep := renderModels(t, "video-audio", []Model{videoAudio()})
	checkGolden(t, filepath.Join("testdata", "video-audio-groups.summary.golden"), summary)
	checkGolden(t, filepath.Join("testdata", "video-audio-groups.svg.golden"), svg)
	r := rep.Runs[0]
	if v := r.BoundsViolations(); len(v) > 0 {
		t.Errorf("bounds passed: %v", v)
	}
	if r.Workers.Max() > 10 {
		t.Errorf("host-wide series reaches %d processes, above MAX 10", r.Workers.Max())
	}
	for _, gr := range r.Groups {
		if gr.Workers.Max() > gr.Group.Max {
			t.Errorf("group %s reaches %d processes, above its cap %d", gr.Group.Name, gr.Workers.Max(), gr.Group.Max)
		}
	}
	if r.Finished != r.Tasks || r.Published != r.Tasks {
		t.Errorf("finished %d, published %d, want all %d", r.Finished, r.Published, r.Tasks)
	}
}

// TestHostAtInstants: four 25 s video tasks at 0 s and a burst of twenty
// 0.5 s audio tasks at 2 s under a host budget of 6 (audio capped at 4), at
// fixed instants. Video's grant is what it asks for (4), not all the free
// room, so audio gets the other 2 at its first decision after the burst
// (its queue changed); video's next poll (3 s) sees audio short and holds
// its own limit at its share. Busy video processes are never taken, so
// audio has what is left: 2.
func TestHostAtInstants(t *testing.T) {
	tr, err := ParseTrace("p", strings.NewReader("0 4 25 video\n2 20 0.5 audio\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := videoAudio()
	m.Policy.Max, m.Groups[0].Max, m.Groups[1].Max = 6, 6, 4
	h, err := newHost(tr, m, DefaultStart, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at                         time.Duration
		video, audio, audioWaiting int // processes alive, tasks in the broker
		videoLimit, audioLimit     int
	}{
		{at: time.Second, video: 4, audio: 0, audioWaiting: 0, videoLimit: 4, audioLimit: 0},
		{at: 2500 * time.Millisecond, video: 4, audio: 2, audioWaiting: 18, videoLimit: 4, audioLimit: 2},
		{at: 3 * time.Second, video: 4, audio: 2, audioWaiting: 16, videoLimit: 2, audioLimit: 2},
		// Video's tasks have run 3 s, audio's backlog takes 4.5 s to clear
		// on its 2: video retires 2 busy processes (leaving: its limit is
		// its share plus them), which still run their tasks.
		{at: 6 * time.Second, video: 4, audio: 2, audioWaiting: 4, videoLimit: 4, audioLimit: 2},
	} {
		if err := h.runUntil(tt.at); err != nil {
			t.Fatal(err)
		}
		video, audio := h.sims[0], h.sims[1]
		a := video.ledger.Allocations()
		if len(video.workers) != tt.video || len(audio.workers) != tt.audio || audio.waiting() != tt.audioWaiting ||
			a[0].Limit != tt.videoLimit || a[1].Limit != tt.audioLimit {
			t.Errorf("at %s s: video %d alive (limit %d), audio %d alive (limit %d) %d waiting; want %d (%d), %d (%d) %d\n%s\n%s",
				seconds(tt.at), len(video.workers), a[0].Limit, len(audio.workers), a[1].Limit, audio.waiting(),
				tt.video, tt.videoLimit, tt.audio, tt.audioLimit, tt.audioWaiting, a[0].Reason, a[1].Reason)
		}
	}
}

func TestSplitTrace(t *testing.T) {
	groups := []Group{{Name: "video", Queues: []string{"video"}, Max: 4}, {Name: "audio+celery", Queues: []string{"audio", "celery"}, Max: 4}}
	for _, tt := range []struct {
		name    string
		in      string
		want    []int // batches per group
		wantErr []string
	}{
		{name: "each queue to its group; no column is celery", in: "0 1 25 video\n1 5 0.5 audio\n2 1 1\n", want: []int{1, 2}},
		{name: "a group without tasks", in: "0 1 1 audio\n", want: []int{0, 1}},
		{name: "a queue in no group", in: "0 1 25 video\n3 2 1 misc\n", wantErr: []string{"t:2:", `queue "misc"`, "video, audio+celery"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseTrace("t", strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := SplitTrace(tr, groups)
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to contain %q", err, w)
				}
			}
			for i, n := range tt.want {
				if len(got[i].Batches) != n || got[i].Name != "t/"+groups[i].Name {
					t.Errorf("group %s: %q with %d batches, want t/%s with %d", groups[i].Name, got[i].Name, len(got[i].Batches), groups[i].Name, n)
				}
			}
		})
	}
}

func TestValidateGroups(t *testing.T) {
	for _, tt := range []struct {
		name   string
		groups []Group
		want   string // in the error; "" for none
	}{
		{"fits", []Group{{"a", []string{"a"}, 2, 10}, {"b", []string{"b"}, 0, 4}}, ""},
		{"cap above the host max", []Group{{"a", []string{"a"}, 0, 11}}, "range 0-11"},
		{"minimum above its cap", []Group{{"a", []string{"a"}, 5, 4}}, "range 5-4"},
		{"a queue in two groups", []Group{{"a", []string{"a", "x"}, 0, 4}, {"b", []string{"x"}, 0, 4}}, `queue "x" is in groups a and b`},
		{"minimums above the max", []Group{{"a", []string{"a"}, 6, 10}, {"b", []string{"b"}, 5, 10}}, "add up to 11"},
		{"no queue", []Group{{"a", nil, 0, 4}}, "at least one queue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := videoAudio()
			m.Groups = tt.groups
			err := m.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
