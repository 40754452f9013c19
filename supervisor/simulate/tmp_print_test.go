package simulate

import (
	"os"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
)

func TestTmpPrint(t *testing.T) {
	for _, n := range []string{"burst", "ramp", "spiky"} {
		tr, err := ReadTrace("testdata/" + n + ".trace")
		if err != nil {
			t.Fatal(err)
		}
		p := supervisor.Policy{Min: 3, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second, PrefetchMultiplier: 1}
		rep, err := Simulate(tr, []Model{RevrxModel(p, 1), CeleryModel(p)}, DefaultStart, 0)
		if err != nil {
			t.Fatal(err)
		}
		WriteSummary(os.Stdout, rep)
		if os.Getenv("DEC") != "" {
			WriteDecisions(os.Stdout, rep)
		}
	}
}
