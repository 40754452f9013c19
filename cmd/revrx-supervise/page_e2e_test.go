package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

var pageScreenshot = flag.String("page-screenshot", "",
	"TestStatusPageInChromium copies its screenshot of / here (e.g. ../../docs/status-page.png)")

// chromiumTimeout bounds one headless Chromium run.
const chromiumTimeout = 60 * time.Second

// needChromium returns the path of Debian's chromium. Its absence fails the
// test: the page is only proven in a real browser.
func needChromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): `make deps` installs it", err)
	}
	return path
}

// chromium runs headless Chromium once with args and the page URL and
// returns its standard output. It runs in its own process group with a
// private profile; the group is SIGKILLed on timeout and at the end.
func chromium(t *testing.T, bin, url string, args ...string) string {
	t.Helper()
	full := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.Command(bin, append(full, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	p, err := harness.Start("chromium", cmd)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	err = p.Wait(ctx)
	p.KillTree() // on a timeout: chromium, its tree and its group
	// Whatever of this run's group is left (renderers, zygote).
	if kerr := syscall.Kill(-p.PID(), syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		t.Logf("kill chromium group %d: %v", p.PID(), kerr)
	}
	if err != nil {
		t.Fatalf("chromium %s: %v after %s\n%s", strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond),
			lastLines(stderr.String(), 20))
	}
	t.Logf("chromium %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return stdout.String()
}

// chartPointCount counts the points of one series of the page's chart.
func chartPointCount(dom, series string) int {
	m := regexp.MustCompile(`<polyline\b[^>]*\bid="series-` + series + `"[^>]*\bpoints="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil {
		return 0
	}
	return len(strings.Fields(m[1]))
}

// TestStatusPageInChromium renders / in headless Chromium while a real
// supervisor scales real workers: the chart has points, the first worker
// has a row, after a burst so does the second, and once tasks completed
// the efficiency table counts them and their process-seconds.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	bin := needChromium(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=2,1", "-Q", "page")
	page := "http://" + s.addr + "/"
	up := func() []string {
		var names []string
		for _, w := range s.status().Workers {
			if w.State == policy.PhaseIdle || w.State == policy.PhaseBusy {
				names = append(names, w.Name)
			}
		}
		return names
	}
	waitFor(t, 30*time.Second, "a worker up", func() bool { return len(up()) == 1 })
	first := up()[0]

	dom := chromium(t, bin, page, "--dump-dom")
	if n := chartPointCount(dom, "workers"); n == 0 {
		t.Errorf("rendered chart has no workers points:\n%s", dom)
	}
	if !strings.Contains(dom, `<td class="name">`+first+`</td>`) {
		t.Errorf("rendered page has no row for %s:\n%s", first, dom)
	}

	publish(t, url, "page", 8, 2)
	waitFor(t, 30*time.Second, "a second worker up", func() bool { return len(up()) == 2 })
	var second string
	for _, name := range up() {
		if name != first {
			second = name
		}
	}
	dom = chromium(t, bin, page, "--dump-dom")
	for _, name := range []string{first, second} {
		if !strings.Contains(dom, `<td class="name">`+name+`</td>`) {
			t.Errorf("rendered page after the burst has no row for %s:\n%s", name, dom)
		}
	}
	for _, series := range []string{"depth", "workers", "desired"} {
		if n := chartPointCount(dom, series); n == 0 {
			t.Errorf("rendered chart has no %s points after the burst", series)
		}
	}

	waitFor(t, 30*time.Second, "two tasks completed", func() bool {
		return s.metric(`revrx_tasks_completed_total{outcome="succeeded"}`) >= 2
	})
	dom = chromium(t, bin, page, "--dump-dom")
	checkEfficiencyRow(t, dom)

	shot := filepath.Join(t.TempDir(), "status-page.png")
	chromium(t, bin, page, "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s: %d bytes, err %v; want a PNG", shot, len(png), err)
	}
	if *pageScreenshot != "" {
		if err := os.WriteFile(*pageScreenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// efficiencyRow is the efficiency table's row of a supervisor without
// queue groups: tasks, busy, idle, starting, idle share, per task.
var efficiencyRow = regexp.MustCompile(`<tr class="efficiency"><td class="n tasks">(\d+)</td><td class="n busy">([\d.]+)</td>` +
	`<td class="n idle">([\d.]+)</td><td class="n">[\d.]+</td><td class="n share">(\d+) %</td><td class="n per-task">([\d.]+)</td>`)

// checkEfficiencyRow wants the rendered efficiency row to count tasks, some
// busy and some idle process-seconds (MIN's idle worker before the burst),
// and a cost per task.
func checkEfficiencyRow(t *testing.T, dom string) {
	t.Helper()
	m := efficiencyRow.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("rendered page has no efficiency row with tasks and a cost per task:\n%s", dom)
	}
	tasks, _ := strconv.Atoi(m[1])
	busy, _ := strconv.ParseFloat(m[2], 64)
	idle, _ := strconv.ParseFloat(m[3], 64)
	share, _ := strconv.Atoi(m[4])
	if tasks < 2 || busy <= 0 || idle <= 0 || share <= 0 || share >= 100 {
		t.Errorf("efficiency row %q: want 2 tasks or more, busy and idle process-seconds, an idle share between 0 and 100 %%", m[0])
	}
}
