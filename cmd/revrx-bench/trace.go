package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// trace is one load trace (traces/README.md: "at_seconds count task_seconds"
// lines, '#' starts a comment). examples/producer.py replays it; the harness
// reads it only to size and describe the run.
type trace struct {
	name        string
	path        string
	tasks       int
	taskSeconds float64 // total work: Σ count × task_seconds
	lastPublish float64 // offset of the last batch
}

func readTrace(path string) (trace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return trace{}, err
	}
	t := trace{name: strings.TrimSuffix(filepath.Base(path), ".trace"), path: path}
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return trace{}, fmt.Errorf("%s:%d: want 'at_seconds count task_seconds'", path, i+1)
		}
		at, err1 := strconv.ParseFloat(f[0], 64)
		n, err2 := strconv.Atoi(f[1])
		secs, err3 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return trace{}, fmt.Errorf("%s:%d: bad number", path, i+1)
		}
		t.tasks += n
		t.taskSeconds += float64(n) * secs
		t.lastPublish = max(t.lastPublish, at)
	}
	return t, nil
}
