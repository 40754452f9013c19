package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

func TestParseGroups(t *testing.T) {
	tests := []struct {
		in       string
		min, max int
		want     []queueGroup // nil: plain queues
		wantErr  string
	}{
		{in: "reports", min: 3, max: 10},
		{in: "a,b", min: 3, max: 10},
		{in: "video:1-4,audio:0-6,default", min: 0, max: 10, want: []queueGroup{
			{Name: "video", Queues: []string{"video"}, Min: 1, Max: 4},
			{Name: "audio", Queues: []string{"audio"}, Min: 0, Max: 6},
			{Name: "default", Queues: []string{"default"}, Min: 0, Max: 10},
		}},
		{in: "video+thumbs:2, audio", min: 0, max: 10, want: []queueGroup{
			{Name: "video+thumbs", Queues: []string{"video", "thumbs"}, Min: 0, Max: 2},
			{Name: "audio", Queues: []string{"audio"}, Min: 0, Max: 10},
		}},
		// a cap above the host's is the host's
		{in: "a:1-20,b", min: 0, max: 10, want: []queueGroup{
			{Name: "a", Queues: []string{"a"}, Min: 1, Max: 10},
			{Name: "b", Queues: []string{"b"}, Min: 0, Max: 10},
		}},
		// the host MIN above the groups' minimums is spread in order, up to each cap
		{in: "a:1-2,b:0-6", min: 5, max: 10, want: []queueGroup{
			{Name: "a", Queues: []string{"a"}, Min: 2, Max: 2},
			{Name: "b", Queues: []string{"b"}, Min: 3, Max: 6},
		}},
		{in: "a:5-4", max: 10, wantErr: "the minimum 5 is above the maximum 4"},
		{in: "a:0-0", max: 10, wantErr: "the maximum must be at least 1"},
		{in: "a:-1-4", max: 10, wantErr: `"" is not a whole number`},
		{in: "a:11-12", max: 10, wantErr: "its minimum 11 is above the host MAX 10"},
		{in: "a:6-8,b:5", max: 10, wantErr: ""},
		{in: "a:6-8,b:5-5", max: 10, wantErr: "the group minimums add up to 11, above the host MAX 10"},
		{in: "a:1,a+b", max: 10, wantErr: `queue "a" is in groups "a" and "a+b"`},
		{in: "a:1,", max: 10, wantErr: `group "" has no queue`},
		{in: ":3", max: 10, wantErr: `group ":3" has no queue`},
		{in: "a++b:3", max: 10, wantErr: `"" is not a queue name`},
		{in: "a:x", max: 10, wantErr: `"x" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseGroups(tt.in, tt.min, tt.max)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), groupForm[:20]) && !strings.Contains(err.Error(), "accepted") {
					t.Fatalf("err %v, want one containing %q and the accepted form", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if tt.want == nil && tt.wantErr == "" && !strings.ContainsAny(tt.in, ":+") && got != nil {
				t.Errorf("plain queues gave groups %+v", got)
			}
		})
	}
}

func TestGroupNameTemplate(t *testing.T) {
	g := queueGroup{Name: "video+thumbs"}
	if got := g.nameTemplate(defaultGroupNameTemplate); got != "video-thumbs{n}@%h" {
		t.Errorf("got %q", got)
	}
}

func TestCheckGroupSchedules(t *testing.T) {
	groups := []queueGroup{{Name: "video", Queues: []string{"video"}, Min: 1, Max: 4}, {Name: "audio", Queues: []string{"audio"}, Max: 6}}
	sched := func(spec string) policy.Schedule {
		s, err := policy.ParseSchedule(spec)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name    string
		groups  []queueGroup
		spec    string
		wantErr string
	}{
		{"a group's floor", groups, "Mon-Fri 08:00-18:00 min=3 group=video", ""},
		{"a lower host budget", groups, "Sat,Sun 00:00-24:00 max=4", ""},
		{"a host floor with groups", groups, "08:00-18:00 min=3", "a host schedule sets max= only"},
		{"an unknown group", groups, "08:00-18:00 min=3 group=llm", `no queue group "llm"; accepted: one of video, audio`},
		{"a floor above the group's cap", groups, "08:00-18:00 min=5 group=video", "min=5 must be at most max (4)"},
		{"group= without groups", nil, "08:00-18:00 min=3 group=video", "group=video without queue groups"},
		{"plain schedule without groups", nil, "08:00-18:00 min=3", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkGroupSchedules(tt.groups, []policy.Schedule{sched(tt.spec)})
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
	if got := policy.SchedulesFor([]policy.Schedule{sched("08:00-09:00 max=2"), sched("08:00-09:00 min=1 group=video")}, "video"); len(got) != 1 || got[0].Group != "video" {
		t.Errorf("schedulesOf video = %+v", got)
	}
}
