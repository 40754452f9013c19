package main

import (
	"reflect"
	"strings"
	"testing"
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
