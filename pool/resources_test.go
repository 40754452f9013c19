//go:build linux

package pool

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
)

func TestCPUBusy(t *testing.T) {
	// Guest time is already inside User: it must not count twice.
	all, busy := cpuBusy(cpu.TimesStat{User: 50, System: 10, Idle: 30, Iowait: 10, Guest: 20, GuestNice: 5})
	if all != 100 || busy != 60 {
		t.Errorf("cpuBusy() = %v, %v, want 100, 60", all, busy)
	}
}

func TestCPURatio(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	host := func(at time.Duration, busy, all float64) cpuReading {
		return cpuReading{at: t0.Add(at), busy: busy, all: all}
	}
	cg := func(at time.Duration, dir string, cores, usage float64) cpuReading {
		r := host(at, 0, 0)
		r.cgDir, r.cgCores, r.cgUsage = dir, cores, usage
		return r
	}
	tests := []struct {
		name      string
		prev, cur cpuReading
		want      float64
		wantCg    bool
	}{
		{"host half busy", host(0, 100, 400), host(time.Second, 150, 500), 0.5, false},
		{"host idle", host(0, 100, 400), host(time.Second, 100, 500), 0, false},
		{"host counters stuck", host(0, 100, 400), host(time.Second, 100, 400), 0, false},
		{"host counters reset", host(0, 100, 400), host(time.Second, 10, 40), 0, false},
		{"no baseline", cpuReading{}, host(time.Second, 150, 500), 0, false},
		{"quota 0.5 fully used", cg(0, "c", 0.5, 10), cg(2*time.Second, "c", 0.5, 11), 1, true},
		{"quota 2 cores, 1 used", cg(0, "c", 2, 10), cg(2*time.Second, "c", 2, 12), 0.5, true},
		{"over quota clamps", cg(0, "c", 0.5, 10), cg(time.Second, "c", 0.5, 12), 1, true},
		{"quota appeared", host(0, 100, 400), cg(time.Second, "c", 2, 12), 0, true},
		{"quota moved to another level", cg(0, "a", 2, 10), cg(time.Second, "b", 1, 12), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotCg := cpuRatio(tt.prev, tt.cur)
			if math.Abs(got-tt.want) > 1e-9 || gotCg != tt.wantCg {
				t.Errorf("cpuRatio() = %v, %v, want %v, %v", got, gotCg, tt.want, tt.wantCg)
			}
		})
	}
}

func TestMemoryRatios(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"host", memoryRatio(1000, 250), 0.75},
		{"host all free", memoryRatio(1000, 1000), 0},
		{"host odd available", memoryRatio(1000, 2000), 0},
		{"host no total", memoryRatio(0, 0), 0},
		{"cgroup working set", cgroupMemoryRatio(600, 100, 1000), 0.5},
		{"cgroup all cache", cgroupMemoryRatio(600, 700, 1000), 0},
		{"cgroup over limit clamps", cgroupMemoryRatio(1200, 0, 1000), 1},
		{"cgroup no limit", cgroupMemoryRatio(5, 0, 0), 0},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-9 {
			t.Errorf("%s: ratio = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// fakeHost is a host whose counters and clock the test sets.
type fakeHost struct {
	times      cpu.TimesStat
	total, av  uint64
	now        time.Time
	procRoot   string
	cgroupRoot string
}

func newFakeHost(t *testing.T, selfCgroup string) *fakeHost {
	h := &fakeHost{total: 1 << 40, av: 1 << 39, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		procRoot: t.TempDir(), cgroupRoot: t.TempDir()}
	h.times = cpu.TimesStat{User: 100, Idle: 300}
	if selfCgroup != "" {
		writeFile(t, filepath.Join(h.procRoot, "self", "cgroup"), selfCgroup)
	}
	return h
}

func (h *fakeHost) sampler() *Sampler {
	return newSampler(samplerDeps{
		procRoot: h.procRoot, cgroupRoot: h.cgroupRoot,
		hostCPU: func() (cpu.TimesStat, error) { return h.times, nil },
		hostMem: func() (uint64, uint64, error) { return h.total, h.av, nil },
		now:     func() time.Time { return h.now },
		numCPU:  4,
	})
}

// writeFiles writes name -> content under dir, creating directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func host(t *testing.T, s *Sampler) HostUsage {
	t.Helper()
	u, err := s.Host()
	if err != nil {
		t.Fatalf("Host() error: %v", err)
	}
	return u
}

func TestHostWithoutCgroups(t *testing.T) {
	h := newFakeHost(t, "")
	s := h.sampler()
	h.now = h.now.Add(time.Second)
	h.times.User, h.times.Idle = 130, 370 // 30 busy of 100
	u := host(t, s)
	if want := (HostUsage{CPU: 0.3, Memory: 0.5}); math.Abs(u.CPU-want.CPU) > 1e-9 || u.Memory != want.Memory ||
		u.CPUCgroup || u.MemoryCgroup {
		t.Fatalf("Host() = %+v, want %+v", u, want)
	}

	// Within MinCPUInterval the CPU figure is repeated, memory is fresh.
	h.now = h.now.Add(MinCPUInterval / 2)
	h.times.User = 200
	h.av = 1 << 38
	if u := host(t, s); math.Abs(u.CPU-0.3) > 1e-9 || u.Memory != 0.75 {
		t.Fatalf("Host() soon after = %+v, want CPU 0.3 again and Memory 0.75", u)
	}
	// The baseline did not move: the next interval covers both steps.
	h.now = h.now.Add(MinCPUInterval)
	h.times.Idle = 400 // since the measurement: busy +70, all +100
	if u := host(t, s); math.Abs(u.CPU-0.7) > 1e-9 {
		t.Fatalf("Host() after the interval = %+v, want CPU 0.7", u)
	}
}

func TestHostCgroupV2(t *testing.T) {
	h := newFakeHost(t, "0::/kubepods/pod1/ctr\n")
	writeFiles(t, h.cgroupRoot, map[string]string{
		"cgroup.controllers": "cpu memory",
		// The container: 0.5 core, 500 of 1000 bytes in use once the
		// inactive file cache is left out.
		"kubepods/pod1/ctr/memory.max":     "1000\n",
		"kubepods/pod1/ctr/memory.current": "600\n",
		"kubepods/pod1/ctr/memory.stat":    "anon 400\nfile 200\ninactive_file 100\n",
		"kubepods/pod1/ctr/cpu.max":        "50000 100000\n",
		"kubepods/pod1/ctr/cpu.stat":       "usage_usec 1000000\nuser_usec 1\n",
		// The pod: a tighter memory ratio, a looser CPU quota.
		"kubepods/pod1/memory.max":     "800\n",
		"kubepods/pod1/memory.current": "700\n",
		"kubepods/pod1/memory.stat":    "inactive_file 0\n",
		"kubepods/pod1/cpu.max":        "300000 100000\n",
		"kubepods/pod1/cpu.stat":       "usage_usec 5000000\n",
		// Unlimited above.
		"kubepods/memory.max": "max\n",
		"kubepods/cpu.max":    "max 100000\n",
	})
	s := h.sampler()
	h.now = h.now.Add(2 * time.Second)
	writeFile(t, filepath.Join(h.cgroupRoot, "kubepods/pod1/ctr/cpu.stat"), "usage_usec 1500000\n")
	u := host(t, s)
	// CPU: 0.5s used in 2s of a 0.5-core quota; memory: the pod's 700/800.
	if !u.CPUCgroup || !u.MemoryCgroup || math.Abs(u.CPU-0.5) > 1e-9 || math.Abs(u.Memory-0.875) > 1e-9 {
		t.Fatalf("Host() = %+v, want CPU 0.5 and Memory 0.875, both from cgroups", u)
	}

	// Limits at or above the host's capacity are the host's figures.
	h.total = 700
	s.numCPU = 3 // the pod's quota
	writeFile(t, filepath.Join(h.cgroupRoot, "kubepods/pod1/ctr/cpu.max"), "max 100000\n")
	h.now = h.now.Add(time.Second)
	if u := host(t, s); u.CPUCgroup || u.MemoryCgroup {
		t.Fatalf("Host() with limits >= host = %+v, want host figures", u)
	}
}

func TestHostCgroupV1(t *testing.T) {
	h := newFakeHost(t, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n")
	writeFiles(t, h.cgroupRoot, map[string]string{
		"memory/memory.limit_in_bytes":            "9223372036854771712\n", // unlimited
		"memory/docker/abc/memory.limit_in_bytes": "2000\n",
		"memory/docker/abc/memory.usage_in_bytes": "1500\n",
		"memory/docker/abc/memory.stat":           "cache 600\ninactive_file 1\ntotal_inactive_file 500\n",
		"cpu/docker/abc/cpu.cfs_quota_us":         "200000\n",
		"cpu/docker/abc/cpu.cfs_period_us":        "100000\n",
		"cpu/docker/abc/cpuacct.usage":            "1000000000\n",
		"cpu/cpu.cfs_quota_us":                    "-1\n",
		"cpu/cpu.cfs_period_us":                   "100000\n",
	})
	s := h.sampler()
	h.now = h.now.Add(time.Second)
	writeFile(t, filepath.Join(h.cgroupRoot, "cpu/docker/abc/cpuacct.usage"), "1500000000\n")
	// CPU: 0.5s in 1s of 2 cores; memory (1500-500)/2000.
	if u := host(t, s); !u.CPUCgroup || !u.MemoryCgroup || math.Abs(u.CPU-0.25) > 1e-9 || u.Memory != 0.5 {
		t.Fatalf("Host() = %+v, want CPU 0.25 and Memory 0.5 from cgroups", u)
	}
}

// TestHostCgroupV1NoNamespace: /proc/self/cgroup names the host's path,
// while the container's own cgroup is mounted at the root.
func TestHostCgroupV1NoNamespace(t *testing.T) {
	h := newFakeHost(t, "12:memory:/docker/abc\n4:cpu:/docker/abc\n3:cpuacct:/docker/abc\n")
	writeFiles(t, h.cgroupRoot, map[string]string{
		"memory/memory.limit_in_bytes": "1000\n",
		"memory/memory.usage_in_bytes": "250\n",
		"cpu/cpu.cfs_quota_us":         "100000\n",
		"cpu/cpu.cfs_period_us":        "100000\n",
		"cpuacct/cpuacct.usage":        "0\n",
	})
	s := h.sampler()
	h.now = h.now.Add(time.Second)
	writeFile(t, filepath.Join(h.cgroupRoot, "cpuacct/cpuacct.usage"), "100000000\n")
	if u := host(t, s); !u.CPUCgroup || !u.MemoryCgroup || math.Abs(u.CPU-0.1) > 1e-9 || u.Memory != 0.25 {
		t.Fatalf("Host() = %+v, want CPU 0.1 and Memory 0.25 from the root cgroups", u)
	}
}

// TestHostReal reads this machine.
func TestHostReal(t *testing.T) {
	s := NewSampler()
	u := host(t, s) // CPU is 0: within MinCPUInterval of NewSampler
	if u.CPU < 0 || u.CPU > 1 || u.Memory <= 0 || u.Memory >= 1 {
		t.Fatalf("Host() = %+v, want ratios in 0..1 and some memory in use", u)
	}
	t.Logf("Host() = %+v", u)
}
