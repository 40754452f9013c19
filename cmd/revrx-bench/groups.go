package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// The groups scenario (-scenarios groups): two queues under one host budget
// of MAX=10 pool processes. A steady stream of long "video" tasks and
// bursts of short "audio" tasks (testdata/groups.trace) replayed against
// revrx-supervise's queue groups, one celery worker consuming both queues,
// and static splits of two celery workers, one after another.
const (
	groupsSettle     = 3 * time.Second  // ready → the producers start
	groupsMargin     = 20 * time.Second // horizon = last task's publish + its length + this
	groupsAudioSplit = 3.0              // s: a finished task that ran shorter was an audio task
)

// groupsTraceFile is the scenario's trace, relative to the repository root.
var groupsTraceFile = filepath.Join("cmd", "revrx-bench", "testdata", "groups.trace")

// groupQueues are the trace's queues, in table order.
var groupQueues = []string{"video", "audio"}

// groupWorker is one plain `celery worker --autoscale=MAX,MIN -Q queues`.
type groupWorker struct {
	name, queues string
	max, min     int
}

// groupContender is one way of running the two queues' workers.
type groupContender struct {
	key, label string
	revrx      string        // revrx-supervise's -Q (queue groups); "" = plain celery workers
	flags      []string      // revrx-supervise's other flags
	workers    []groupWorker // the celery workers, started together
}

// split is two celery workers, video MAX,MIN + audio MAX,MIN.
func split(video, videoMin, audio, audioMin int) groupContender {
	return groupContender{
		key: fmt.Sprintf("celery-split-%d-%d", video, audio),
		label: fmt.Sprintf("celery worker -Q video --autoscale=%d,%d + celery worker -Q audio --autoscale=%d,%d",
			video, videoMin, audio, audioMin),
		workers: []groupWorker{{"video", "video", video, videoMin}, {"audio", "audio", audio, audioMin}},
	}
}

// allGroupContenders in run order. Celery's runs keep the traces' total
// MIN of 3 (2 + 1 for the splits); revrx-supervise runs 10,0, both groups
// free to take the whole budget.
var allGroupContenders = []groupContender{
	{key: "revrx-groups", label: "revrx-supervise --autoscale=10,0 -Q video:0-10,audio:0-10", revrx: "video:0-10,audio:0-10"},
	{key: "revrx-groups-rb1", label: "revrx-supervise --autoscale=10,0 -Q video:0-10,audio:0-10 --rebalance-after=1s",
		revrx: "video:0-10,audio:0-10", flags: []string{"--rebalance-after=1s"}},
	{key: "celery-both", label: "celery worker --autoscale=10,3 -Q video,audio",
		workers: []groupWorker{{"both", "video,audio", 10, 3}}},
	split(7, 2, 3, 1),
	split(6, 2, 4, 1),
	split(5, 2, 5, 1),
	split(8, 2, 2, 1),
}

// groupsDefault are the contenders run unless -groups-contenders says
// otherwise: all but the variants of revrx-supervise's flags.
var groupsDefault = []string{"revrx-groups", "celery-both", "celery-split-7-3", "celery-split-6-4",
	"celery-split-5-5", "celery-split-8-2"}

func groupContenderKeys() []string {
	var keys []string
	for _, c := range allGroupContenders {
		keys = append(keys, c.key)
	}
	return keys
}

// caps is each group's (worker main's -Q) ceiling of pool processes.
func (c groupContender) caps() map[string]int {
	caps := map[string]int{}
	if c.revrx != "" {
		for _, g := range strings.Split(c.revrx, ",") {
			q, rng, _ := strings.Cut(g, ":")
			_, hi, ok := strings.Cut(rng, "-")
			if !ok {
				hi = rng
			}
			n, err := strconv.Atoi(hi)
			if err != nil || rng == "" {
				n = autoscaleMax
			}
			caps[strings.ReplaceAll(q, "+", ",")] = n
		}
		return caps
	}
	for _, w := range c.workers {
		caps[w.queues] = w.max
	}
	return caps
}

// readySlots is the pool processes it has once ready.
func (c groupContender) readySlots() int {
	n := 0
	for _, w := range c.workers {
		n += w.min
	}
	return n
}

// commands are c's command lines, one per process the bench starts.
func (c groupContender) commands(bin, appDir, broker, record, httpAddr string) []command {
	env := []string{"CELERY_BROKER_URL=" + broker, "REVRX_RECORD=" + record, "REVRX_ACKS_LATE=1"}
	if c.revrx != "" {
		// As users type it: no worker arguments (the bench waits for
		// /readyz and the worker mains instead of "ready." lines).
		return []command{{dir: appDir, env: env, argv: append([]string{bin, "-A", "tasks",
			"--autoscale=" + strconv.Itoa(autoscaleMax) + ",0", "-Q", c.revrx,
			"--celery-cmd", celeryPython + " -m celery", "--http-addr", httpAddr}, c.flags...)}}
	}
	var out []command
	for _, w := range c.workers {
		out = append(out, command{dir: appDir, env: append(slices.Clip(env), "AUTOSCALE_KEEPALIVE=30"),
			argv: []string{celeryPython, "-m", "celery", "-A", "tasks", "worker", "-Q", w.queues,
				"-n", w.name + "@%h", "--pool", "prefork", fmt.Sprintf("--autoscale=%d,%d", w.max, w.min),
				"--without-mingle", "--without-gossip", "--prefetch-multiplier=1", "--loglevel=INFO"}})
	}
	return out
}

// groupTask is one line of testdata/groups.trace.
type groupTask struct {
	at      float64
	count   int
	seconds float64
	queue   string
}

// groupTrace is the scenario's trace, cut at -groups-cut.
type groupTrace struct {
	path    string
	tasks   []groupTask
	horizon time.Duration
}

// readGroupTrace reads "at_seconds count task_seconds queue" lines, keeping
// those published before cut (0 = all).
func readGroupTrace(path string, cut float64) (groupTrace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return groupTrace{}, err
	}
	t := groupTrace{path: path}
	end := 0.0
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return t, fmt.Errorf("%s:%d: want 'at_seconds count task_seconds queue'", path, i+1)
		}
		at, err1 := strconv.ParseFloat(f[0], 64)
		n, err2 := strconv.Atoi(f[1])
		secs, err3 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return t, fmt.Errorf("%s:%d: bad number", path, i+1)
		}
		if !slices.Contains(groupQueues, f[3]) {
			return t, fmt.Errorf("%s:%d: queue %q: want one of %s", path, i+1, f[3], strings.Join(groupQueues, ","))
		}
		if cut > 0 && at >= cut {
			continue
		}
		t.tasks = append(t.tasks, groupTask{at, n, secs, f[3]})
		end = max(end, at+secs)
	}
	if len(t.tasks) == 0 {
		return t, fmt.Errorf("%s: no task (cut at %g s)", path, cut)
	}
	t.horizon = time.Duration(end*float64(time.Second)) + groupsMargin
	return t, nil
}

// describe sums the trace per queue.
func (t groupTrace) describe() string {
	var parts []string
	for _, q := range groupQueues {
		n, secs, last := 0, 0.0, 0.0
		for _, x := range t.tasks {
			if x.queue == q {
				n += x.count
				secs += float64(x.count) * x.seconds
				last = max(last, x.at)
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d tasks (%.0f task-seconds, last publish at %.0f s)", q, n, secs, last))
	}
	return strings.Join(parts, "; ")
}

// queues are the queues that have tasks in the trace, in table order.
func (t groupTrace) queues() []string {
	var out []string
	for _, q := range groupQueues {
		if slices.ContainsFunc(t.tasks, func(x groupTask) bool { return x.queue == q }) {
			out = append(out, q)
		}
	}
	return out
}

// writeQueueTrace writes q's lines as a plain trace for examples/producer.py.
func (t groupTrace) writeQueueTrace(q, path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, queue %s\n", t.path, q)
	for _, x := range t.tasks {
		if x.queue == q {
			fmt.Fprintf(&b, "%g %d %g\n", x.at, x.count, x.seconds)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// groupResult is what the scenario measures of one contender.
type groupResult struct {
	published, finished, runTwice, leftQueued int
	waits                                     map[string][]float64 // per queue, ascending
	unclassified                              int                  // started, never finished: queue unknown
	slotSecs                                  float64              // ∫ pool processes dt over the horizon
	peak                                      int                  // most pool processes at once
	peakGroup                                 map[string]int       // per worker main's -Q
	truncated                                 bool                 // a producer had not finished at the horizon
	load1                                     string
}

func (r groupResult) lost() int { return r.published - r.finished }

func (r groupResult) p(q string, pct float64) float64 { return percentile(r.waits[q], pct) }

// groupsScenario runs the groups scenario and returns its markdown section.
func (h *bench) groupsScenario(ctx context.Context) (string, bool) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "error: " + err.Error() + "\n", true
	}
	path := h.groupsTrace
	if path == "" {
		path = filepath.Join(root, groupsTraceFile)
	}
	tr, err := readGroupTrace(path, h.groupsCut)
	if err != nil {
		return "error: " + err.Error() + "\n", true
	}
	fmt.Fprintf(os.Stderr, "bench: [groups] %s; horizon %s per contender\n", tr.describe(), horizonText(tr.horizon))
	var runs []scenarioRun[groupResult]
	var cmds [][]command
	failed := false
	for _, c := range allGroupContenders {
		if !slices.Contains(h.groupsKeys, c.key) {
			continue
		}
		r, cmd, err := h.runGroups(ctx, tr, c)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: [groups/%s] error: %v\n", c.key, err)
			failed = true
		} else {
			fmt.Fprintf(os.Stderr, "bench: [groups/%s] audio wait p95 %s, video wait p95 %s, %.0f slot-seconds, peak %d, %d/%d finished\n",
				c.key, secs(r.p("audio", 95)), secs(r.p("video", 95)), r.slotSecs, r.peak, r.finished, r.published)
		}
		runs = append(runs, scenarioRun[groupResult]{c: contender{key: c.key, label: c.label}, m: r, err: err})
		cmds = append(cmds, cmd)
	}
	return groupsTable(tr, runs, cmds), failed
}

// runGroups replays tr against c on a fresh redis-server and measures it.
func (h *bench) runGroups(ctx context.Context, tr groupTrace, c groupContender) (r groupResult, cmds []command, err error) {
	r.load1 = load1()
	dir := filepath.Join(h.out, "runs", "groups-"+c.key)
	if err := os.RemoveAll(dir); err != nil {
		return r, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, nil, err
	}
	rds, err := h.startRedis(ctx, dir)
	if err != nil {
		return r, nil, err
	}
	defer func() {
		if err := rds.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}()
	port, err := harness.FreePort()
	if err != nil {
		return r, nil, err
	}
	record := filepath.Join(dir, "record.jsonl")
	cmds = c.commands(h.bin, h.appDir, rds.URL(0), record, "127.0.0.1:"+strconv.Itoa(port))
	var procs []*harness.Process
	var logs []string
	stopAll := func(grace time.Duration) float64 { // concurrently; returns the longest stop
		var wg sync.WaitGroup
		took := make([]time.Duration, len(procs))
		for i, p := range procs {
			wg.Add(1)
			go func() { defer wg.Done(); took[i] = stop(p, syscall.SIGTERM, grace) }()
		}
		wg.Wait()
		return slices.Max(append(took, 0)).Seconds()
	}
	defer func() { stopAll(10 * time.Second) }() // only on an early return: the processes have exited otherwise
	for i, cmd := range cmds {
		fmt.Fprintf(os.Stderr, "bench: [groups/%s] %s\n", c.key, cmd)
		logPath := filepath.Join(dir, fmt.Sprintf("contender-%d.log", i))
		p, err := harness.StartLogged(c.key, cmd.argv, cmd.dir, cleanEnv(cmd.env), logPath)
		if err != nil {
			return r, cmds, err
		}
		procs, logs = append(procs, p), append(logs, logPath)
	}
	if err := waitGroupsReady(ctx, c, procs, logs, port); err != nil {
		return r, cmds, fmt.Errorf("not ready: %w (see %s)", err, dir)
	}
	if err := harness.Sleep(ctx, groupsSettle); err != nil {
		return r, cmds, err
	}

	roots := make([]int, len(procs))
	for i, p := range procs {
		roots[i] = p.PID()
	}
	sctx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	samplesc := runGroupSampler(sctx, roots, sampleEvery)
	var prods []*producerRun
	for _, q := range tr.queues() {
		tpath := filepath.Join(dir, q+".trace")
		if err := tr.writeQueueTrace(q, tpath); err != nil {
			return r, cmds, err
		}
		pr, err := h.startProducerQueue(tpath, q, rds.URL(0), filepath.Join(dir, "producer-"+q+".log"))
		if err != nil {
			return r, cmds, err
		}
		defer stop(pr.p, syscall.SIGKILL, time.Second) // only on an early return
		prods = append(prods, pr)
	}
	var t0 time.Time // the earlier producer's t=0
	for _, pr := range prods {
		select {
		case t := <-pr.t0:
			if t0.IsZero() || t.Before(t0) {
				t0 = t
			}
		case <-pr.p.Done():
			return r, cmds, fmt.Errorf("producer exited before publishing: %v (see %s)", pr.p.Err(), dir)
		case <-ctx.Done():
			return r, cmds, ctx.Err()
		}
	}
	end := t0.Add(tr.horizon)
	if err := harness.Sleep(ctx, time.Until(end)); err != nil {
		return r, cmds, err
	}
	stopSampling()
	samples := <-samplesc
	for _, pr := range prods {
		if !pr.p.Exited() {
			r.truncated = true
			stop(pr.p, syscall.SIGINT, 5*time.Second)
		}
	}
	stopAll(stopGrace)
	for _, pr := range prods {
		if err := <-pr.scanned; err != nil {
			return r, cmds, err
		}
		r.published += pr.published
		if !r.truncated && pr.p.Err() != nil {
			return r, cmds, fmt.Errorf("producer: %w (see %s)", pr.p.Err(), dir)
		}
	}
	c2 := rds.Client()
	defer c2.Reset()
	for _, q := range groupQueues {
		n, err := redisInt(c2, "LLEN", q)
		if err != nil {
			return r, cmds, err
		}
		r.leftQueued += n
	}
	unacked, err := redisInt(c2, "HLEN", "unacked")
	if err != nil {
		return r, cmds, err
	}
	r.leftQueued += unacked
	dumpRedis(c2, filepath.Join(dir, "redis-keys.txt"))
	if err := readGroupRecord(record, &r); err != nil {
		return r, cmds, fmt.Errorf("record: %w", err)
	}
	groupWindow(samples, t0, end, &r)
	return r, cmds, writeGroupSamples(filepath.Join(dir, "samples.csv"), samples, t0)
}

// startProducerQueue replays the plain trace at path into queue q.
func (h *bench) startProducerQueue(path, q, broker, logPath string) (*producerRun, error) {
	return h.startProducer(trace{name: q, path: path}, q, broker, logPath)
}

// waitGroupsReady waits until every celery worker has logged "ready." and
// the pool runs its MIN processes, or (revrx-supervise) until /readyz is
// 200 and a worker main runs for each group.
func waitGroupsReady(ctx context.Context, c groupContender, procs []*harness.Process, logs []string, port int) error {
	client := http.Client{Timeout: time.Second}
	return waitFor(ctx, readyTimeout, func() bool {
		roots := make([]int, len(procs))
		for i, p := range procs {
			if p.Exited() {
				return false
			}
			roots[i] = p.PID()
		}
		mains, slots := groupCounts(roots, harness.Table(), nil)
		if slots != c.readySlots() {
			return false
		}
		if c.revrx != "" {
			if len(mains) != len(strings.Split(c.revrx, ",")) {
				return false
			}
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
		for _, l := range logs {
			if b, _ := os.ReadFile(l); !strings.Contains(string(b), " ready.") {
				return false
			}
		}
		return true
	})
}

// groupSample is one look at the contender's process trees.
type groupSample struct {
	At      time.Time
	Slots   int
	PerMain map[string]int // pool processes per worker main's -Q
}

func (s groupSample) at() time.Time { return s.At }

// groupCounts returns, over the trees of roots, the -Q of each Celery worker
// main and the pool processes (children of a worker main), per -Q in
// perGroup if it is not nil; counted the same way as the traces' slots.
func groupCounts(roots []int, table map[int]harness.Stat, perGroup map[string]int) (mains map[int]string, slots int) {
	var tree []int
	for _, root := range roots {
		tree = append(tree, harness.Tree(root, table)...)
	}
	mains = map[int]string{}
	for pid := range workerMains(tree, table) {
		mains[pid] = queuesArg(harness.Cmdline(pid))
		if perGroup != nil {
			perGroup[mains[pid]] += 0 // a main with no process shows as 0
		}
	}
	for _, pid := range tree {
		if q, ok := mains[table[pid].PPID]; ok {
			slots++
			if perGroup != nil {
				perGroup[q]++
			}
		}
	}
	return mains, slots
}

// queuesArg is the value of -Q (or --queues) in a worker's argv.
func queuesArg(argv []string) string {
	for i, a := range argv {
		if (a == "-Q" || a == "--queues") && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--queues="); ok {
			return v
		}
	}
	return "?"
}

// runGroupSampler samples the trees every interval until ctx ends, then
// takes one last sample and sends them all.
func runGroupSampler(ctx context.Context, roots []int, interval time.Duration) <-chan []groupSample {
	take := func() groupSample {
		s := groupSample{At: time.Now(), PerMain: map[string]int{}}
		_, s.Slots = groupCounts(roots, harness.Table(), s.PerMain)
		return s
	}
	return sampleUntil(ctx, interval, take)
}

// groupWindow fills slot-seconds and the peaks over [from, to]: each
// sample's count holds until the next one (as the traces' worker-seconds).
func groupWindow(samples []groupSample, from, to time.Time, r *groupResult) {
	r.slotSecs = integrate(samples, from, to, func(s groupSample) float64 { return float64(s.Slots) })
	r.peakGroup = map[string]int{}
	for _, s := range samples {
		if s.At.After(to) {
			continue
		}
		// Every sample before the horizon counts for the peaks, the
		// settle before t=0 included.
		r.peak = max(r.peak, s.Slots)
		for g, n := range s.PerMain {
			r.peakGroup[g] = max(r.peakGroup[g], n)
		}
	}
}

// readGroupRecord reads the record file: each task's first start (its
// wait), its end, and its queue from how long it ran (a video task runs
// 20-30 s, an audio task 0.5 s: the record has no queue, and a task that
// never finished is in no queue's waits).
func readGroupRecord(path string, r *groupResult) error {
	type line struct {
		Event       string   `json:"event"`
		ID          string   `json:"id"`
		PublishedAt *float64 `json:"published_at"`
		Started     *float64 `json:"started"`
		Finished    *float64 `json:"finished"`
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	first := map[string]line{}
	starts := map[string]int{}
	ran := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.ID == "" {
			continue
		}
		switch l.Event {
		case "start":
			starts[l.ID]++
			if prev, ok := first[l.ID]; !ok || (l.Started != nil && prev.Started != nil && *l.Started < *prev.Started) {
				first[l.ID] = l
			}
		case "end":
			if l.Started != nil && l.Finished != nil {
				ran[l.ID] = *l.Finished - *l.Started
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	r.waits = map[string][]float64{}
	for id, l := range first {
		if starts[id] > 1 {
			r.runTwice++
		}
		d, ok := ran[id]
		if !ok || l.PublishedAt == nil || l.Started == nil {
			r.unclassified++
			continue
		}
		q := "video"
		if d < groupsAudioSplit {
			q = "audio"
		}
		r.waits[q] = append(r.waits[q], math.Max(0, *l.Started-*l.PublishedAt))
	}
	for _, w := range r.waits {
		sort.Float64s(w)
	}
	r.finished = len(ran)
	return nil
}

// writeGroupSamples saves the samples (t relative to t=0) as CSV.
func writeGroupSamples(path string, samples []groupSample, t0 time.Time) error {
	var b strings.Builder
	b.WriteString("t_seconds,slots,per_main\n")
	for _, s := range samples {
		var parts []string
		for g, n := range s.PerMain {
			parts = append(parts, g+"="+strconv.Itoa(n))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "%.3f,%d,%s\n", s.At.Sub(t0).Seconds(), s.Slots, strings.Join(parts, " "))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// groupsTable renders the runs, the peaks against the caps and the targets.
func groupsTable(tr groupTrace, runs []scenarioRun[groupResult], cmds [][]command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### groups — %s; horizon %s; MAX=%d pool processes\n\n", tr.describe(), horizonText(tr.horizon), autoscaleMax)
	b.WriteString("| contender | audio wait p50 | audio wait p95 | video wait p50 | video wait p95 | slot-seconds | peak processes (per worker main) | finished / published | tasks lost | run twice | load avg at start |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	capOK := true
	for _, x := range runs {
		if x.err != nil {
			fmt.Fprintf(&b, "| `%s` | error: %s | | | | | | | | | |\n", x.c.label, strings.ReplaceAll(x.err.Error(), "|", "/"))
			continue
		}
		r := x.m
		caps := groupContenderByKey(x.c.key).caps()
		var peaks []string
		for _, g := range slices.Sorted(maps.Keys(r.peakGroup)) {
			s := fmt.Sprintf("%s %d", g, r.peakGroup[g])
			if c, ok := caps[g]; ok {
				s += fmt.Sprintf("/%d", c)
				if r.peakGroup[g] > c {
					s += " ✗"
					capOK = false
				}
			}
			peaks = append(peaks, s)
		}
		peak := fmt.Sprintf("**%d** (%s)", r.peak, strings.Join(peaks, ", "))
		if r.peak > autoscaleMax {
			peak += " ✗ over MAX"
			capOK = false
		}
		done := fmt.Sprintf("%d / %d", r.finished, r.published)
		if r.leftQueued > 0 {
			done += fmt.Sprintf(" (%d left in Redis)", r.leftQueued)
		}
		if r.truncated {
			done += " (horizon cut the trace)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %.0f | %s | %s | %d | %d | %s |\n", x.c.label,
			secs(r.p("audio", 50)), secs(r.p("audio", 95)), secs(r.p("video", 50)), secs(r.p("video", 95)),
			r.slotSecs, peak, done, r.lost(), r.runTwice, r.load1)
	}
	fmt.Fprintf(&b, "\nPeaks per worker main are `current/cap` (its MAX, or its group's ceiling): %s.\n\n", map[bool]string{true: "none above its cap, none above MAX", false: "**a cap or MAX was exceeded (✗)**"}[capOK])
	b.WriteString(groupsVerdict(runs))
	b.WriteString("\n<details><summary>groups: command lines</summary>\n\n")
	for i, x := range runs {
		if i < len(cmds) && len(cmds[i]) > 0 {
			fmt.Fprintf(&b, "- `%s`:\n\n  ```sh\n", x.c.key)
			for _, c := range cmds[i] {
				fmt.Fprintf(&b, "  %s\n", c)
			}
			b.WriteString("  ```\n\n")
		}
	}
	b.WriteString("</details>\n")
	return b.String()
}

func groupContenderByKey(key string) groupContender {
	for _, c := range allGroupContenders {
		if c.key == key {
			return c
		}
	}
	return groupContender{}
}

// The targets (issue "queue groups"): audio wait p95 ≤ 0.5 × the best
// Celery setup's, video wait p95 ≤ 1.1 × its, slot-seconds ≤ its, 0 lost.
const groupsTargetsText = "audio wait p95 ≤ 0.5 × Celery's; video wait p95 ≤ 1.1 × Celery's; slot-seconds ≤ Celery's; 0 tasks lost"

// groupsVerdict compares each revrx-supervise run with every Celery setup,
// and names the best Celery setup: the lowest audio wait p95 among those
// that lost nothing.
func groupsVerdict(runs []scenarioRun[groupResult]) string {
	var rxs, cels []scenarioRun[groupResult]
	var best string
	bestP95 := math.Inf(1)
	for _, x := range runs {
		switch {
		case x.err != nil:
		case strings.HasPrefix(x.c.key, "revrx"):
			rxs = append(rxs, x)
		default:
			cels = append(cels, x)
			if x.m.lost() == 0 && x.m.p("audio", 95) < bestP95 {
				best, bestP95 = x.c.key, x.m.p("audio", 95)
			}
		}
	}
	if len(rxs) == 0 || len(cels) == 0 {
		return "No revrx-supervise run and Celery run to compare.\n"
	}
	var b strings.Builder
	for _, x := range rxs {
		rx := x.m
		fmt.Fprintf(&b, "`%s` against each Celery setup (targets: %s):\n\n", x.c.label, groupsTargetsText)
		b.WriteString("| against | audio p95 ratio (≤ 0.5) | video p95 ratio (≤ 1.1) | slot-seconds ratio (≤ 1) | lost | all met |\n|---|---:|---:|---:|---:|---|\n")
		for _, y := range cels {
			c := y.m
			a := rx.p("audio", 95) / c.p("audio", 95)
			v := rx.p("video", 95) / c.p("video", 95)
			s := rx.slotSecs / c.slotSecs
			all := a <= 0.5 && v <= 1.1 && s <= 1 && rx.lost() == 0
			name := "`" + y.c.label + "`"
			if y.c.key == best {
				name += " (**best**)"
			}
			fmt.Fprintf(&b, "| %s | %s / %s = %.2f %s | %s / %s = %.2f %s | %.0f / %.0f = %.2f %s | %d %s | %s |\n", name,
				secs(rx.p("audio", 95)), secs(c.p("audio", 95)), a, mark(a <= 0.5),
				secs(rx.p("video", 95)), secs(c.p("video", 95)), v, mark(v <= 1.1),
				rx.slotSecs, c.slotSecs, s, mark(s <= 1), rx.lost(), mark(rx.lost() == 0), map[bool]string{true: "**yes**", false: "no"}[all])
		}
		b.WriteString("\n")
	}
	return b.String()
}
