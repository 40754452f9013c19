package policy

import "fmt"

// HostUsage is the host's load as the guard sees it.
type HostUsage struct {
	CPU    float64 `json:"cpu_ratio"`    // busy ratio over all cores, 0..1
	Memory float64 `json:"memory_ratio"` // used ratio (of the cgroup limit when there is one), 0..1
	OK     bool    `json:"-"`            // the reading is valid; an invalid reading never blocks
}

// Guard is the resource guard, a secondary strategy: it never proposes
// workers, it holds scale-ups back and sheds idle workers.
type Guard struct {
	MaxCPU          float64 `json:"max_cpu,omitempty"`           // no scale-up while host CPU is above this ratio; 0 = off
	MaxMemory       float64 `json:"max_memory,omitempty"`        // no scale-up while host memory is above this ratio; 0 = off
	CriticalMemory  float64 `json:"critical_memory,omitempty"`   // above this ratio idle workers are shed without waiting for the keepalive; 0 = off
	MaxWorkerMemory uint64  `json:"max_worker_memory,omitempty"` // a worker whose process tree RSS exceeds this many bytes is replaced once idle; 0 = off
}

// Validate checks the ratios.
func (g Guard) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"max cpu", g.MaxCPU}, {"max memory", g.MaxMemory}, {"critical memory", g.CriticalMemory}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("policy: %s %g: must be a ratio in (0, 1], or 0 for off", r.name, r.v)
		}
	}
	return nil
}

// blocksUp names the resource that forbids a scale-up now, or "".
func (g Guard) blocksUp(h HostUsage) BlockedReason {
	switch {
	case !h.OK:
		return ""
	case g.MaxCPU > 0 && h.CPU > g.MaxCPU:
		return BlockedCPU
	case g.MaxMemory > 0 && h.Memory > g.MaxMemory:
		return BlockedMemory
	}
	return ""
}

// underPressure reports whether memory is above the critical ratio.
func (g Guard) underPressure(h HostUsage) bool {
	return h.OK && g.CriticalMemory > 0 && h.Memory > g.CriticalMemory
}
