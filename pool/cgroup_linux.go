package pool

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupSet is where this process's cgroup limits are read: for each
// resource, the cgroup directories from the process's own up to the mount
// root (any of them may hold the binding limit), found once.
type cgroupSet struct {
	v2     bool
	memory []string // v2: memory.max/current/stat; v1: memory.limit_in_bytes/usage_in_bytes/stat
	cpu    []cpuDir
}

// cpuDir is a cgroup with its quota files (v2 cpu.max; v1 cpu.cfs_*) and
// the file holding its usage (v2 cpu.stat usage_usec; v1 cpuacct.usage).
type cpuDir struct {
	dir, usage string
}

// findCgroups reads procRoot/self/cgroup and locates the directories under
// root (normally /sys/fs/cgroup). v2 is used when root is a cgroup2 mount
// (root/cgroup.controllers exists), else the v1 memory, cpu and cpuacct
// mounts. A process path that does not exist under the mount (a container
// without a cgroup namespace sees the host's path while its own cgroup is
// mounted at the root) falls back to the mount root. Nothing found means
// host-wide figures only.
func findCgroups(procRoot, root string) cgroupSet {
	data, err := os.ReadFile(filepath.Join(procRoot, "self", "cgroup"))
	if err != nil {
		return cgroupSet{}
	}
	paths := map[string]string{} // controller ("" for v2) -> path
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") { // v2's "0::/p" gives ""
			paths[c] = parts[2]
		}
	}
	var s cgroupSet
	if exists(filepath.Join(root, "cgroup.controllers")) {
		p, ok := paths[""]
		if !ok {
			return cgroupSet{}
		}
		s.v2 = true
		s.memory = cgroupLevels(root, p)
		for _, d := range s.memory {
			s.cpu = append(s.cpu, cpuDir{dir: d, usage: filepath.Join(d, "cpu.stat")})
		}
		return s
	}
	if p, ok := paths["memory"]; ok {
		s.memory = cgroupLevels(filepath.Join(root, "memory"), p)
	}
	if p, ok := paths["cpu"]; ok {
		mount := filepath.Join(root, "cpu")
		for _, d := range cgroupLevels(mount, p) {
			// cpu and cpuacct are usually mounted together; else the
			// cpuacct hierarchy at the same path.
			rel, _ := filepath.Rel(mount, d)
			for _, u := range []string{filepath.Join(d, "cpuacct.usage"),
				filepath.Join(root, "cpuacct", rel, "cpuacct.usage")} {
				if exists(u) {
					s.cpu = append(s.cpu, cpuDir{dir: d, usage: u})
					break
				}
			}
		}
	}
	return s
}

// cgroupLevels returns mount+p and its parents up to mount, leaf first, or
// just mount when mount+p does not exist. mount itself must exist.
func cgroupLevels(mount, p string) []string {
	if !exists(mount) {
		return nil
	}
	p = path.Clean("/" + p)
	if !exists(filepath.Join(mount, p)) {
		return []string{mount}
	}
	var dirs []string
	for {
		dirs = append(dirs, filepath.Join(mount, p))
		if p == "/" {
			return dirs
		}
		p = path.Dir(p)
	}
}

// memoryRatio returns the highest working-set/limit ratio over the levels
// whose limit is below hostTotal, and false if there is none.
func (s cgroupSet) memoryRatio(hostTotal uint64) (float64, bool) {
	limitFile, usageFile, inactiveKey := "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
	if s.v2 {
		limitFile, usageFile, inactiveKey = "memory.max", "memory.current", "inactive_file"
	}
	best, found := 0.0, false
	for _, d := range s.memory {
		limit, ok := readUint(filepath.Join(d, limitFile)) // "max" (v2) does not parse: no limit
		if !ok || limit == 0 || limit >= hostTotal {
			continue
		}
		usage, ok := readUint(filepath.Join(d, usageFile))
		if !ok {
			continue
		}
		inactive, _ := statValue(filepath.Join(d, "memory.stat"), inactiveKey)
		r := cgroupMemoryRatio(usage, inactive, limit)
		if !found || r > best {
			best, found = r, true
		}
	}
	return best, found
}

// cgroupMemoryRatio is the working set (usage minus inactive file cache)
// over the limit, clamped to 0..1.
func cgroupMemoryRatio(usage, inactiveFile, limit uint64) float64 {
	if limit == 0 {
		return 0
	}
	ws := usage - min(inactiveFile, usage)
	return clamp01(float64(ws) / float64(limit))
}

// cpuQuota returns the level with the smallest CPU quota below hostCPUs
// (in cores), with its cumulative usage in CPU seconds; dir is "" if no
// quota applies or its usage cannot be read.
func (s cgroupSet) cpuQuota(hostCPUs float64) (dir string, cores, usage float64) {
	for _, c := range s.cpu {
		q, ok := s.quota(c.dir)
		if !ok || q >= hostCPUs || (dir != "" && q >= cores) {
			continue
		}
		u, ok := s.usageSeconds(c.usage)
		if !ok {
			continue
		}
		dir, cores, usage = c.dir, q, u
	}
	return dir, cores, usage
}

// quota reads a CPU quota in cores; false when unlimited or unreadable.
func (s cgroupSet) quota(dir string) (float64, bool) {
	var q, period float64
	if s.v2 {
		b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if err != nil {
			return 0, false
		}
		f := strings.Fields(string(b)) // "max 100000" or "200000 100000"
		if len(f) != 2 {
			return 0, false
		}
		q, _ = strconv.ParseFloat(f[0], 64) // "max" -> 0
		period, _ = strconv.ParseFloat(f[1], 64)
	} else {
		qi, ok1 := readInt(filepath.Join(dir, "cpu.cfs_quota_us")) // -1 = none
		pi, ok2 := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
		if !ok1 || !ok2 {
			return 0, false
		}
		q, period = float64(qi), float64(pi)
	}
	if q <= 0 || period <= 0 {
		return 0, false
	}
	return q / period, true
}

// usageSeconds reads a cgroup's cumulative CPU time.
func (s cgroupSet) usageSeconds(file string) (float64, bool) {
	if s.v2 {
		us, ok := statValue(file, "usage_usec")
		return float64(us) / 1e6, ok
	}
	ns, ok := readUint(file)
	return float64(ns) / 1e9, ok
}

// readUint reads a file holding one non-negative integer (cgroup values
// fit in int64: v1's "unlimited" is 2^63 rounded down to a page).
func readUint(file string) (uint64, bool) {
	v, ok := readInt(file)
	return uint64(v), ok && v >= 0
}

// readInt reads a file holding one integer.
func readInt(file string) (int64, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	return v, err == nil
}

// statValue reads key's value from a "key value" per line file.
func statValue(file, key string) (uint64, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
