package policy

import (
	"testing"
	"time"
)

// BenchmarkDecide measures one policy decision for a 10-worker pool with
// every strategy on (HPA behavior with a full history, schedules, guard).
func BenchmarkDecide(b *testing.B) {
	s1, _ := ParseSchedule("Mon-Fri 08:00-18:00 min=4")
	s2, _ := ParseSchedule("Sat,Sun 22:00-06:00 max=4")
	beh := Behavior{}.WithDefaults()
	p := Config{Min: 2, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second, Tolerance: 0.1,
		TargetWait: 5 * time.Second, Guard: Guard{MaxCPU: 0.9, MaxMemory: 0.9, MaxWorkerMemory: 1 << 30},
		Schedules: []Schedule{s1, s2}, Location: time.UTC, Behavior: &beh}
	var ws []WorkerView
	for i := 1; i <= 10; i++ {
		if i%2 == 0 {
			ws = append(ws, busy(workerName(i), i, 1, 1))
		} else {
			ws = append(ws, idle(workerName(i), i, time.Minute))
		}
	}
	var h History
	for i := range 300 { // a busy five minutes of history
		h.Recommendations = append(h.Recommendations, Recommendation{At: t0.Add(time.Duration(i-300) * time.Second), Count: i % 10})
	}
	obs := Observation{Waiting: 7, OldestWait: 8 * time.Second, BrokerOK: true, Workers: ws,
		Host: HostUsage{CPU: 0.5, Memory: 0.5, OK: true}, History: h}
	b.ReportAllocs()
	for b.Loop() {
		_ = Decide(obs, t0, p)
	}
}
