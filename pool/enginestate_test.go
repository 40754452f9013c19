//go:build linux

package pool

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEngineStateJSON: /status shows the worker main with the same
// lowercase keys as its workers, and its output only while it fails.
func TestEngineStateJSON(t *testing.T) {
	st := EngineState{Engine: EnginePool, Main: MainState{Name: "worker1@h", PID: 42, State: Running}, Processes: 3}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"main":{"name":"worker1@h","pid":42,"state":"running","restarts":0}`, `"processes":3`} {
		if !strings.Contains(got, want) {
			t.Errorf("EngineState JSON %s lacks %s", got, want)
		}
	}
}
