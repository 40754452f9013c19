package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	{key: "revrx-groups-video7", label: "revrx-supervise --autoscale=10,0 -Q video:0-7,audio:0-10", revrx: "video:0-7,audio:0-10"},
	{key: "revrx-groups-rb5", label: "revrx-supervise --autoscale=10,0 -Q video:0-10,audio:0-10 --rebalance-after=5s",
		revrx: "video:0-10,audio:0-10", flags: []string{"--rebalance-after=5s"}},
	{key: "celery-both", label: "celery worker --autoscale=10,3 -Q video,audio",
		workers: []groupWorker{{"both", "video,audio", 10, 3}}},
	split(7, 2, 3, 1),
	split(6, 2, 4, 1),
	split(5, 2, 5, 1),
	split(8, 2, 2, 1),
}

// groupsDefault are the contenders run unless -groups-contenders says
// otherwise: revrx-supervise with both groups free and with video capped
// at 7 (what an operator who wants audio never starved types), Celery's
// one worker, and the three splits closest to the best (8/2 starves audio:
// 16 s p95 measured).
var groupsDefault = []string{"revrx-groups", "revrx-groups-video7", "celery-both", "celery-split-7-3", "celery-split-6-4",
	"celery-split-5-5"}

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

// runGroups replays tr against c on a fresh broker and measures it.
func (h *bench) runGroups(ctx context.Context, tr groupTrace, c groupContender) (r groupResult, cmds []command, err error) {
	r.load1 = load1()
	dir := filepath.Join(h.out, "runs", "groups-"+c.key)
	brk, err := h.startRunBroker(ctx, dir)
	if err != nil {
		return r, nil, err
	}
	defer brk.stop()
	port, err := harness.FreePort()
	if err != nil {
		return r, nil, err
	}
	record := filepath.Join(dir, "record.jsonl")
	cmds = c.commands(h.bin, h.appDir, brk.url(), record, "127.0.0.1:"+strconv.Itoa(port))
	run := &groupRun{h: h, c: c, dir: dir, broker: brk.url()}
	defer run.stopAll(10 * time.Second) // only on an early return: the processes have exited otherwise
	if err := run.start(ctx, cmds, port); err != nil {
		return r, cmds, err
	}
	samples, t0, end, err := run.replay(ctx, tr, &r)
	if err != nil {
		return r, cmds, err
	}
	if r.leftQueued, err = brk.left(dir, groupQueues...); err != nil {
		return r, cmds, err
	}
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
			return readyzOK(&client, "127.0.0.1:"+strconv.Itoa(port))
		}
		for _, l := range logs {
			if b, _ := os.ReadFile(l); !strings.Contains(string(b), " ready.") {
				return false
			}
		}
		return true
	})
}
