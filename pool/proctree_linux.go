package pool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// TreeRSS returns the resident set size, in bytes, of pid plus all its
// descendants (a Celery worker's main process and its pool children). It
// wraps ErrNoProcess if pid does not exist; descendants that exit during the
// scan are skipped. See TreesRSS for how it is measured.
func (s *Sampler) TreeRSS(pid int) (uint64, error) {
	m, err := s.TreesRSS([]int{pid})
	if err != nil {
		return 0, err
	}
	rss, ok := m[pid]
	if !ok {
		return 0, fmt.Errorf("tree rss of pid %d: %w", pid, ErrNoProcess)
	}
	return rss, nil
}

// TreesRSS returns TreeRSS for each of pids from ONE scan of /proc (one
// stat file per process on the host, for ppid and rss), so sampling every
// worker costs one pass. A pid that does not exist is absent from the map.
// RSS is the kernel's resident count (/proc/PID/stat), so pages shared
// between a prefork parent and its children are counted in each: the sum
// overstates the tree's real footprint (Celery's own
// --max-memory-per-child also reads RSS). /proc/PID/task/*/children would
// avoid the scan but needs CONFIG_PROC_CHILDREN, which not every kernel
// has; gopsutil's Process.Children rescans /proc for every parent.
func (s *Sampler) TreesRSS(pids []int) (map[int]uint64, error) {
	procs, err := scanProcs(s.procRoot)
	if err != nil {
		return nil, err
	}
	children := make(map[int][]int, len(procs))
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	out := make(map[int]uint64, len(pids))
	for _, root := range pids {
		if _, ok := procs[root]; ok {
			out[root] = treePages(root, procs, children) * s.pageSize
		}
	}
	return out, nil
}

// procStat is what TreesRSS needs from /proc/PID/stat.
type procStat struct {
	ppid     int
	rssPages uint64
}

// scanProcs reads the stat file of every process under procRoot. Processes
// that vanish while it runs (ENOENT, ESRCH) or whose stat does not parse
// are left out.
func scanProcs(procRoot string) (map[int]procStat, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	_ = d.Close()
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	procs := make(map[int]procStat, len(names))
	buf := make([]byte, 0, statBufSize)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		buf, err = readSmallFile(filepath.Join(procRoot, name, "stat"), buf[:0])
		if err != nil {
			continue // gone (ENOENT at open, ESRCH at read) or unreadable
		}
		if st, err := parseProcStat(buf); err == nil {
			procs[pid] = st
		}
	}
	return procs, nil
}

// statBufSize holds any /proc/PID/stat line (about 300 bytes) in one read.
const statBufSize = 1024

// readSmallFile appends the contents of a /proc file to buf with plain
// open/read/close system calls: os.ReadFile also fstats the file and
// registers it with the runtime poller, which doubles the cost of a scan
// that reads one file per process.
func readSmallFile(path string, buf []byte) ([]byte, error) {
	fd, err := ignoringEINTR(func() (int, error) {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return buf, err
	}
	defer syscall.Close(fd)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := ignoringEINTR(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}

// errBadStat reports a /proc/PID/stat line that does not parse.
var errBadStat = errors.New("malformed /proc stat")

// parseProcStat reads ppid (field 4) and rss (field 24, pages) from a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// itself contain spaces and parentheses, so fields are counted from the
// last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errBadStat
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procStat{}, errBadStat
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	rss, err2 := strconv.ParseInt(string(f[21]), 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, errBadStat
	}
	return procStat{ppid: ppid, rssPages: uint64(max(rss, 0))}, nil
}

// treePages sums rssPages over root and its descendants.
func treePages(root int, procs map[int]procStat, children map[int][]int) uint64 {
	var sum uint64
	seen := map[int]bool{root: true}
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		sum += procs[pid].rssPages
		for _, c := range children[pid] {
			if !seen[c] { // a tree, unless pids were reused mid-scan
				seen[c] = true
				stack = append(stack, c)
			}
		}
	}
	return sum
}
