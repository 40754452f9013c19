package simulate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxTraceTasks bounds the tasks a trace may publish, so a typo such as
// "0 1000000000 1" fails at once instead of exhausting memory.
const MaxTraceTasks = 1_000_000

// Batch is one trace line: Count tasks published At after the start, each
// running for Task, to Queue.
type Batch struct {
	At    time.Duration
	Count int
	Task  time.Duration
	Line  int    // line number in the trace file, for messages
	Queue string // the optional fourth column; "" when absent (DefaultQueue)
}

// DefaultQueue is the queue of a trace line without a queue column:
// Celery's default queue.
const DefaultQueue = "celery"

// QueueName is the queue the batch's tasks are published to: its Queue,
// or DefaultQueue when the line names none.
func (b Batch) QueueName() string {
	if b.Queue == "" {
		return DefaultQueue
	}
	return b.Queue
}

// Trace is a load trace: batches in time order, and the windows its file
// marks as ramps ("# ramp START-END" lines), in file order.
type Trace struct {
	Name    string // shown in summaries and chart titles
	Batches []Batch
	Ramps   []Window
}

// ReadTrace reads the trace file at path; its name is the file name
// without the .trace extension.
func ReadTrace(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, err
	}
	defer f.Close()
	return ParseTrace(strings.TrimSuffix(filepath.Base(path), ".trace"), f)
}

// ParseTrace reads a trace in the format of the package doc ("Trace"): one
// "at_seconds count task_seconds [queue]" line per batch, '#' starting a
// comment, blank lines ignored. Times are decimal seconds (no exponent);
// at_seconds must not be negative nor go backwards, count is a whole
// number ≥ 0 and task_seconds is positive; queue, when present, is any
// word (no blanks, no '#'), and a line without one publishes to
// DefaultQueue. A comment line "# ramp START-END" marks a ramp window
// (rampDirective); other comments are ignored. Errors name the trace and
// the line.
func ParseTrace(name string, r io.Reader) (Trace, error) {
	tr := Trace{Name: name}
	sc := bufio.NewScanner(r)
	total := 0
	for n := 1; sc.Scan(); n++ {
		text, comment, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			if err := tr.addRamp(comment, n); err != nil {
				return Trace{}, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			continue
		}
		b, err := parseBatch(fields)
		if err != nil {
			return Trace{}, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		b.Line = n
		if k := len(tr.Batches); k > 0 && b.At < tr.Batches[k-1].At {
			return Trace{}, fmt.Errorf("%s:%d: at_seconds %s is before line %d's %s: lines must be in time order",
				name, n, fields[0], tr.Batches[k-1].Line, seconds(tr.Batches[k-1].At))
		}
		if total += b.Count; total > MaxTraceTasks {
			return Trace{}, fmt.Errorf("%s:%d: more than %d tasks in the trace", name, n, MaxTraceTasks)
		}
		tr.Batches = append(tr.Batches, b)
	}
	if err := sc.Err(); err != nil {
		return Trace{}, fmt.Errorf("%s: %w", name, err)
	}
	if total == 0 {
		return Trace{}, fmt.Errorf("%s: no tasks; each line is 'at_seconds count task_seconds'", name)
	}
	return tr, nil
}

// addRamp adds the ramp window a comment line n states, if it states one.
func (t *Trace) addRamp(comment string, n int) error {
	w, ok, err := rampDirective(comment)
	if ok && err == nil {
		w.Line = n
		t.Ramps = append(t.Ramps, w)
	}
	return err
}

const lineForm = "want 'at_seconds count task_seconds [queue]', e.g. '12.5 40 2' or '12.5 40 2 video'"

func parseBatch(fields []string) (Batch, error) {
	if len(fields) != 3 && len(fields) != 4 {
		return Batch{}, fmt.Errorf("%d fields; %s", len(fields), lineForm)
	}
	at, err := parseSeconds(fields[0])
	if err != nil {
		return Batch{}, fmt.Errorf("at_seconds %q: %w; %s", fields[0], err, lineForm)
	}
	count, err := strconv.Atoi(fields[1])
	if err != nil || count < 0 {
		return Batch{}, fmt.Errorf("count %q: not a whole number ≥ 0; %s", fields[1], lineForm)
	}
	task, err := parseSeconds(fields[2])
	if err == nil && task == 0 {
		err = errors.New("must be positive")
	}
	if err != nil {
		return Batch{}, fmt.Errorf("task_seconds %q: %w; %s", fields[2], err, lineForm)
	}
	b := Batch{At: at, Count: count, Task: task}
	if len(fields) == 4 {
		b.Queue = fields[3]
	}
	return b, nil
}

// parseSeconds reads a non-negative decimal number of seconds exactly (no
// float rounding: "0.1" is 100ms).
func parseSeconds(s string) (time.Duration, error) {
	if s == "" || strings.ContainsAny(s, "+-") {
		if strings.HasPrefix(s, "-") {
			return 0, errors.New("negative")
		}
		return 0, errors.New("not a number of seconds")
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return 0, errors.New("not a number of seconds")
		}
	}
	d, err := time.ParseDuration(s + "s")
	if err != nil {
		return 0, errors.New("not a number of seconds")
	}
	return d, nil
}

// Tasks is the number of tasks the trace publishes.
func (t Trace) Tasks() int {
	n := 0
	for _, b := range t.Batches {
		n += b.Count
	}
	return n
}

// Work is the total run time of its tasks.
func (t Trace) Work() time.Duration {
	var d time.Duration
	for _, b := range t.Batches {
		d += time.Duration(b.Count) * b.Task
	}
	return d
}

// LastArrival is the offset of its last non-empty batch.
func (t Trace) LastArrival() time.Duration {
	var last time.Duration
	for _, b := range t.Batches {
		if b.Count > 0 {
			last = b.At
		}
	}
	return last
}

// Queues is every queue the trace publishes to (QueueName), in the order
// of first appearance.
func (t Trace) Queues() []string {
	var out []string
	for _, b := range t.Batches {
		if q := b.QueueName(); !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// seconds formats d as seconds with two decimals, e.g. "1.10".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
}
