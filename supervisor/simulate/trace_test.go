package simulate

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseTrace(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Batch
		wantErr []string // substrings of the error
	}{
		{
			name: "comments, blank lines and decimals",
			in:   "# at count secs\n\n0 40 2\n  2.5 3 0.5   # inline comment\n\t\n2.5 0 1\n10 1 .25\n",
			want: []Batch{{0, 40, 2 * time.Second, 3, ""}, {2500 * time.Millisecond, 3, 500 * time.Millisecond, 4, ""},
				{2500 * time.Millisecond, 0, time.Second, 6, ""}, {10 * time.Second, 1, 250 * time.Millisecond, 7, ""}},
		},
		{name: "too few fields", in: "0 1 1\n\n5 1\n", wantErr: []string{"t:3:", "2 fields", "at_seconds count task_seconds"}},
		{
			name: "queue column, on some lines only",
			in:   "0 2 25 video\n0.5 10 0.5 audio # burst\n1 1 1\n",
			want: []Batch{{0, 2, 25 * time.Second, 1, "video"}, {500 * time.Millisecond, 10, 500 * time.Millisecond, 2, "audio"},
				{time.Second, 1, time.Second, 3, ""}},
		},
		{name: "too many fields", in: "0 1 1 video extra\n", wantErr: []string{"t:1:", "5 fields", "[queue]"}},
		{name: "bad at", in: "# c\nx 1 1\n", wantErr: []string{"t:2:", `at_seconds "x"`, "not a number"}},
		{name: "negative at", in: "-1 1 1\n", wantErr: []string{"t:1:", "negative"}},
		{name: "exponent", in: "1e3 1 1\n", wantErr: []string{"t:1:", "not a number"}},
		{name: "fractional count", in: "0 1.5 1\n", wantErr: []string{"t:1:", `count "1.5"`}},
		{name: "negative count", in: "0 -2 1\n", wantErr: []string{"t:1:", "count"}},
		{name: "zero task seconds", in: "0 1 0\n", wantErr: []string{"t:1:", "task_seconds", "positive"}},
		{name: "time goes backwards", in: "5 1 1\n4 1 1\n", wantErr: []string{"t:2:", "before line 1", "time order"}},
		{name: "no tasks", in: "# only a comment\n0 0 1\n", wantErr: []string{"no tasks"}},
		{name: "too many tasks", in: "0 999999 1\n1 2 1\n", wantErr: []string{"t:2:", "more than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseCase(t, tt.in, tt.wantErr)
			if !ok {
				return
			}
			if len(got.Batches) != len(tt.want) {
				t.Fatalf("ParseTrace(%q) = %v, want %v", tt.in, got.Batches, tt.want)
			}
			for i := range tt.want {
				if got.Batches[i] != tt.want[i] {
					t.Errorf("batch %d = %+v, want %+v", i, got.Batches[i], tt.want[i])
				}
			}
		})
	}
}

// parseCase parses in as trace "t". With wantErr, it checks that parsing
// fails with an error holding each of its substrings and returns ok false;
// without, a failure is fatal.
func parseCase(t *testing.T, in string, wantErr []string) (tr Trace, ok bool) {
	t.Helper()
	tr, err := ParseTrace("t", strings.NewReader(in))
	if wantErr != nil {
		if err == nil {
			t.Fatalf("ParseTrace(%q) = %+v, want an error with %q", in, tr, wantErr)
		}
		for _, w := range wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseTrace(%q) error = %q, want it to contain %q", in, err, w)
			}
		}
		return tr, false
	}
	if err != nil {
		t.Fatalf("ParseTrace(%q): %v", in, err)
	}
	return tr, true
}

func TestReferenceTraces(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tasks      int
		work, last time.Duration
	}{
		{"burst", 108, 148 * time.Second, 45 * time.Second},
		{"ramp", 351, 351 * time.Second, 87 * time.Second},
		{"spiky", 104, 52 * time.Second, 90 * time.Second},
	} {
		tr, err := ReadTrace("testdata/" + tc.name + ".trace")
		if err != nil {
			t.Fatal(err)
		}
		if tr.Name != tc.name || tr.Tasks() != tc.tasks || tr.Work() != tc.work || tr.LastArrival() != tc.last {
			t.Errorf("%s: name %q, %d tasks, work %s, last %s; want %d, %s, %s",
				tc.name, tr.Name, tr.Tasks(), tr.Work(), tr.LastArrival(), tc.tasks, tc.work, tc.last)
		}
	}
	if _, err := ReadTrace("testdata/missing.trace"); !os.IsNotExist(err) {
		t.Errorf("ReadTrace(missing) error = %v, want a not-exist error", err)
	}
}

func TestTraceQueues(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"0 1 1\n", "celery"},
		{"0 1 25 video\n0 3 0.5 audio\n1 1 25 video\n2 1 1\n", "video,audio,celery"},
	} {
		tr, err := ParseTrace("t", strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(tr.Queues(), ","); got != tt.want {
			t.Errorf("Queues of %q = %s, want %s", tt.in, got, tt.want)
		}
	}
}
