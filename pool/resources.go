//go:build linux

package pool

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
)

// ErrNoProcess is returned (wrapped) by TreeRSS when the root process does
// not exist.
var ErrNoProcess = errors.New("no such process")

// MinCPUInterval is the shortest interval Host measures CPU over: a call
// sooner than this after the previous measurement returns that
// measurement's CPU again (Memory is always read fresh), so that several
// readers (a control loop, a metrics scrape) do not shrink each other's
// intervals to noise.
const MinCPUInterval = 500 * time.Millisecond

// HostUsage is the host's CPU and memory use, each a ratio in 0..1.
type HostUsage struct {
	// CPU is the busy ratio since the previous measurement: of all the
	// host's cores (from /proc/stat: busy = all - idle - iowait, guest time
	// counted once), or, when this process's cgroup has a CPU quota below
	// the host's core count, of that quota (CPUCgroup).
	CPU float64
	// Memory is the used ratio: (total-available)/total of the host's
	// memory (/proc/meminfo MemAvailable), or, when a cgroup of this process
	// has a memory limit below the host's total, the working set over that
	// limit (MemoryCgroup). The working set is usage minus inactive file
	// cache, as kubelet counts it: cache that can be dropped is not pressure.
	// With several limited cgroup levels, the highest ratio.
	Memory float64
	// CPUCgroup and MemoryCgroup tell that CPU and Memory come from cgroup
	// limits rather than the whole host.
	CPUCgroup, MemoryCgroup bool
}

// Sampler reads host usage (Host) and worker process-tree RSS (TreeRSS,
// TreesRSS) on Linux. Its methods are safe for concurrent use.
type Sampler struct {
	procRoot string
	cgroups  cgroupSet
	hostCPU  func() (cpu.TimesStat, error)
	hostMem  func() (total, available uint64, err error)
	now      func() time.Time
	numCPU   float64
	pageSize uint64

	mu      sync.Mutex
	prev    cpuReading // the last CPU measurement; zero before the first
	lastCPU float64
	lastCg  bool
}

// cpuReading is one CPU measurement: cumulative counters at an instant.
type cpuReading struct {
	at        time.Time
	busy, all float64 // host CPU seconds (all cores)
	cgDir     string  // the cgroup whose quota applies; "" for none
	cgCores   float64 // that quota, in cores
	cgUsage   float64 // that cgroup's cumulative CPU seconds
}

// NewSampler returns a Sampler for this host. It finds this process's
// cgroups (v2, or v1 memory/cpu/cpuacct hierarchies) under /sys/fs/cgroup
// once, and takes a first CPU measurement (errors ignored), so that the
// first Host call reports CPU since NewSampler. Create it at start-up.
func NewSampler() *Sampler {
	return newSampler(samplerDeps{
		procRoot: "/proc", cgroupRoot: "/sys/fs/cgroup",
		hostCPU: gopsutilCPU, hostMem: gopsutilMem, now: time.Now,
		numCPU: float64(runtime.NumCPU()),
	})
}

// samplerDeps is where a Sampler reads from; tests point it at fakes.
type samplerDeps struct {
	procRoot, cgroupRoot string
	hostCPU              func() (cpu.TimesStat, error)
	hostMem              func() (total, available uint64, err error)
	now                  func() time.Time
	numCPU               float64 // quotas at or above this are not limits
}

func newSampler(d samplerDeps) *Sampler {
	s := &Sampler{
		procRoot: d.procRoot,
		cgroups:  findCgroups(d.procRoot, d.cgroupRoot),
		hostCPU:  d.hostCPU,
		hostMem:  d.hostMem,
		now:      d.now,
		numCPU:   d.numCPU,
		pageSize: uint64(os.Getpagesize()),
	}
	if r, err := s.readCPU(s.now()); err == nil {
		s.prev = r
	}
	return s
}

// Host returns the host's CPU and memory use. CPU is measured since the
// previous measurement (the previous Host call at least MinCPUInterval ago,
// else NewSampler); it is 0 when there is no earlier measurement to compare
// with, and so also for calls within MinCPUInterval of NewSampler. An error means the host counters could not be read (cgroup files
// that cannot be read only make it fall back to host-wide figures).
func (s *Sampler) Host() (HostUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var u HostUsage
	var err error
	if u.CPU, u.CPUCgroup, err = s.cpuLocked(); err != nil {
		return HostUsage{}, err
	}
	total, avail, err := s.hostMem()
	if err != nil {
		return HostUsage{}, fmt.Errorf("host memory: %w", err)
	}
	u.Memory = memoryRatio(total, avail)
	if r, ok := s.cgroups.memoryRatio(total); ok {
		u.Memory, u.MemoryCgroup = r, true
	}
	return u, nil
}

// cpuLocked measures CPU, or repeats the last figure within MinCPUInterval.
func (s *Sampler) cpuLocked() (float64, bool, error) {
	now := s.now()
	if !s.prev.at.IsZero() && now.Sub(s.prev.at) < MinCPUInterval {
		return s.lastCPU, s.lastCg, nil
	}
	cur, err := s.readCPU(now)
	if err != nil {
		return 0, false, err
	}
	s.lastCPU, s.lastCg = cpuRatio(s.prev, cur)
	s.prev = cur
	return s.lastCPU, s.lastCg, nil
}

// readCPU reads the host's CPU counters and, if a cgroup quota below the
// host's core count applies, that cgroup's usage.
func (s *Sampler) readCPU(now time.Time) (cpuReading, error) {
	t, err := s.hostCPU()
	if err != nil {
		return cpuReading{}, fmt.Errorf("host cpu: %w", err)
	}
	r := cpuReading{at: now}
	r.all, r.busy = cpuBusy(t)
	r.cgDir, r.cgCores, r.cgUsage = s.cgroups.cpuQuota(s.numCPU)
	return r, nil
}

// cpuBusy returns all and busy CPU seconds from cumulative times, as
// gopsutil's cpu.Percent counts them: guest time is already in user time.
func cpuBusy(t cpu.TimesStat) (all, busy float64) {
	all = t.Total() - t.Guest - t.GuestNice
	return all, all - t.Idle - t.Iowait
}

// cpuRatio is the busy ratio between two measurements, clamped to 0..1,
// and whether it is of a cgroup quota. Without a usable earlier
// measurement it is 0.
func cpuRatio(prev, cur cpuReading) (float64, bool) {
	if cur.cgDir != "" {
		wall := cur.at.Sub(prev.at).Seconds()
		if prev.cgDir != cur.cgDir || prev.at.IsZero() || wall <= 0 || cur.cgCores <= 0 {
			return 0, true
		}
		return clamp01((cur.cgUsage - prev.cgUsage) / (wall * cur.cgCores)), true
	}
	if prev.at.IsZero() || cur.all <= prev.all {
		return 0, false
	}
	return clamp01((cur.busy - prev.busy) / (cur.all - prev.all)), false
}

// memoryRatio is (total-available)/total, clamped to 0..1; 0 if total is 0.
func memoryRatio(total, available uint64) float64 {
	if total == 0 || available >= total {
		return 0
	}
	return float64(total-available) / float64(total)
}

func clamp01(x float64) float64 { return min(max(x, 0), 1) }

func gopsutilCPU() (cpu.TimesStat, error) {
	ts, err := cpu.Times(false)
	if err != nil {
		return cpu.TimesStat{}, err
	}
	if len(ts) == 0 {
		return cpu.TimesStat{}, errors.New("no cpu times")
	}
	return ts[0], nil
}

func gopsutilMem() (total, available uint64, err error) {
	vm, err := mem.VirtualMemory()
	if err != nil {
		return 0, 0, err
	}
	return vm.Total, vm.Available, nil
}
