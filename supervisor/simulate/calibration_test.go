package simulate

import (
	"math"
	"path/filepath"
	"testing"
	"time"
)

// The reference benchmark: make bench on the 2-core development machine,
// 2026-12-02, --autoscale=10,3, the example app with task_acks_late and
// prefetch multiplier 1, horizon 110 s (docs/benchmark.md, "The results
// file"). The pool engine ran at its default keepalive (10 s), Celery's
// --autoscale at AUTOSCALE_KEEPALIVE=30.
var benchReference = []struct {
	trace, model string
	waitP95      float64 // seconds
	workerSec    float64
}{
	{"burst", "revrx", 6.69, 580},
	{"burst", "celery", 6.88, 864},
	{"ramp", "revrx", 0.05, 755},
	{"ramp", "celery", 0.03, 908},
	{"spiky", "revrx", 0.64, 946},
	{"spiky", "celery", 1.01, 1068},
}

// Calibration tolerances: ±25 %, or ±0.05 s for a wait p95 under 0.2 s
// (a relative bound means nothing there: 0.03 s against 0.01 s).
const (
	calibrationRel      = 0.25
	calibrationSmallP95 = 0.2
	calibrationAbsP95   = 0.05
	benchHorizon        = 110 * time.Second
)

// calibrationMisses are the figures the model is known not to reach, with
// why; TestCalibration checks that they still miss, so a fix is noticed.
//
//   - spiky, celery, wait p95: 0.70 s against 1.01 s. Celery's main
//     receives one message per turn of its event loop and a fork blocks
//     that loop, so on a spike it grows one process per message (the
//     bench logs "Scaling up 1 processes" six times, 0.13–0.22 s apart,
//     reaching 9 processes, the 10th only at the next spike) and it also
//     scales down on the first message of the 48 s spike (qty 1). The model
//     sees the whole spike at once, asks for every process at the first
//     message and scales down at 36.5 s instead.
var calibrationMisses = map[string]bool{"spiky/celery/wait p95": true}

// calibrationModels are what `simulate --autoscale=10,3 --compare celery`
// runs: the pool engine at its 10 s keepalive, Celery's at 30 s.
func calibrationModels() map[string]Model {
	pool := referencePolicy()
	pool.Keepalive = 10 * time.Second // cmd/revrx-supervise DefaultProcessKeepalive
	return map[string]Model{"revrx": PoolModel(pool), "celery": CeleryModel(referencePolicy())}
}

func TestCalibration(t *testing.T) {
	models := calibrationModels()
	for _, ref := range benchReference {
		t.Run(ref.trace+"/"+ref.model, func(t *testing.T) {
			tr, err := ReadTrace(filepath.Join("testdata", ref.trace+".trace"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Run(tr, models[ref.model], DefaultStart, benchHorizon)
			if err != nil {
				t.Fatal(err)
			}
			p95, tol := r.Wait(95).Seconds(), calibrationRel*ref.waitP95
			if ref.waitP95 < calibrationSmallP95 {
				tol = calibrationAbsP95
			}
			checkCalibrated(t, ref.trace+"/"+ref.model+"/wait p95", p95, ref.waitP95, tol)
			checkCalibrated(t, ref.trace+"/"+ref.model+"/worker-seconds", r.SlotSeconds, ref.workerSec, calibrationRel*ref.workerSec)
		})
	}
}

// checkCalibrated fails unless got is within tol of the bench's want, or,
// for a known miss, unless it still misses.
func checkCalibrated(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	within := math.Abs(got-want) <= tol
	switch {
	case calibrationMisses[name] && within:
		t.Errorf("%s = %.2f, within ±%.2f of the bench's %.2f: drop it from calibrationMisses", name, got, tol, want)
	case !calibrationMisses[name] && !within:
		t.Errorf("%s = %.2f, want %.2f ± %.2f (make bench, 2026-12-02)", name, got, want, tol)
	}
}
