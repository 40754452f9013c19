package simulate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// referencePolicy is what `simulate --autoscale=10,3` builds with every
// other flag at its default.
func referencePolicy() policy.Config {
	return policy.Config{Algorithm: policy.AlgorithmRevrx, Min: 3, Max: 10, TasksPerWorker: 1,
		Keepalive: 30 * time.Second, PrefetchMultiplier: 1, Location: time.UTC}
}

// referenceModel is what `simulate --autoscale=10,3 --engine engine` runs
// for revrx.
func referenceModel(engine Engine) Model {
	if engine == EnginePool {
		return PoolModel(referencePolicy())
	}
	return RevrxModel(referencePolicy(), 1)
}

// goldenBase names the golden files of a reference trace run with engine,
// alone or against Celery: burst-pool, burst-workers-compare-celery, ….
func goldenBase(name string, engine Engine, compare bool) string {
	base := name + "-" + string(engine)
	if compare {
		base += "-compare-celery"
	}
	return base
}

// render simulates a reference trace with engine, alone or against Celery,
// and returns the summary and the SVG.
func render(t *testing.T, name string, engine Engine, compare bool) (summary, svg []byte) {
	t.Helper()
	models := []Model{referenceModel(engine)}
	if compare {
		models = append(models, CeleryModel(referencePolicy()))
	}
	summary, svg, _ = renderModels(t, name, models)
	return summary, svg
}

// renderModels simulates testdata/NAME.trace with models over the default
// horizon and returns the summary, the SVG and the report.
func renderModels(t *testing.T, name string, models []Model) (summary, svg []byte, rep Report) {
	t.Helper()
	tr, err := ReadTrace(filepath.Join("testdata", name+".trace"))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err = Simulate(tr, models, DefaultStart, 0); err != nil {
		t.Fatal(err)
	}
	var s, g bytes.Buffer
	if err := WriteSummary(&s, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteSVG(&g, rep); err != nil {
		t.Fatal(err)
	}
	return s.Bytes(), g.Bytes(), rep
}

// TestGolden: the summaries and charts of the three reference traces, with
// the default policy on each engine, alone and against Celery, are those in
// testdata (go test -run Golden -update rewrites them; review the diff).
func TestGolden(t *testing.T) {
	for _, name := range []string{"burst", "ramp", "spiky"} {
		for _, engine := range []Engine{EnginePool, EngineWorkers} {
			for _, compare := range []bool{false, true} {
				base := goldenBase(name, engine, compare)
				t.Run(base, func(t *testing.T) {
					summary, svg := render(t, name, engine, compare)
					checkGolden(t, filepath.Join("testdata", base+".summary.golden"), summary)
					checkGolden(t, filepath.Join("testdata", base+".svg.golden"), svg)
				})
			}
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", path, clip(got), clip(want))
	}
}

func clip(b []byte) []byte {
	if len(b) > 3000 {
		return append(b[:3000:3000], "…"...)
	}
	return b
}

// TestDeterministic: two runs of the same inputs give byte-identical output.
func TestDeterministic(t *testing.T) {
	for _, name := range []string{"burst", "ramp", "spiky"} {
		for _, engine := range []Engine{EnginePool, EngineWorkers} {
			s1, g1 := render(t, name, engine, true)
			s2, g2 := render(t, name, engine, true)
			if !bytes.Equal(s1, s2) || !bytes.Equal(g1, g2) {
				t.Errorf("%s on %s: two runs of the same inputs differ", name, engine)
			}
		}
	}
}

// TestReferenceRunsDrain: every reference run finishes every task and
// never asks to stop a busy worker (the simulation fails if it does).
func TestReferenceRunsDrain(t *testing.T) {
	for _, name := range []string{"burst", "ramp", "spiky"} {
		tr, err := ReadTrace(filepath.Join("testdata", name+".trace"))
		if err != nil {
			t.Fatal(err)
		}
		models := []Model{referenceModel(EnginePool), referenceModel(EngineWorkers), CeleryModel(referencePolicy())}
		rep, err := Simulate(tr, models, DefaultStart, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Runs {
			if r.Finished != tr.Tasks() || r.PeakWorkers > 10 {
				t.Errorf("%s/%s (%s): finished %d of %d, peak %d workers (max 10)", name, r.Model.Name, r.Model.Engine, r.Finished, tr.Tasks(), r.PeakWorkers)
			}
		}
	}
}
