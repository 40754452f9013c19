package harness

import (
	"os"
	"slices"
	"testing"
)

func TestReadStatSelf(t *testing.T) {
	st, ok := ReadStat(os.Getpid())
	if !ok || st.PID != os.Getpid() || st.PPID != os.Getppid() || st.State == 0 || st.StartTime <= 0 || st.Zombie() {
		t.Fatalf("ReadStat(self) = %+v, %v", st, ok)
	}
	if !Alive(os.Getpid()) {
		t.Error("Alive(self) = false")
	}
	if _, ok := ReadStat(-1); ok || Alive(-1) {
		t.Error("ReadStat(-1) ok")
	}
	table := Table()
	tree := Tree(os.Getppid(), table)
	if len(tree) < 2 || tree[0] != os.Getppid() || !slices.Contains(tree, os.Getpid()) {
		t.Errorf("Tree(parent) = %v, want the parent first and this process in it", tree)
	}
	if Tree(-1, table) != nil {
		t.Error("Tree(-1) != nil")
	}
	if argv := Cmdline(os.Getpid()); !slices.Equal(argv, os.Args) {
		t.Errorf("Cmdline(self) = %q, want %q", argv, os.Args)
	}
}

func TestMemoryAndCPU(t *testing.T) {
	pss, err := PssKB(os.Getpid())
	if err != nil || pss <= 0 {
		t.Errorf("PssKB(self) = %d, %v", pss, err)
	}
	rss, err := RssKB(os.Getpid())
	if err != nil || rss < pss {
		t.Errorf("RssKB(self) = %d, %v; want >= Pss %d", rss, err, pss)
	}
	if _, err := PssKB(-1); err == nil {
		t.Error("PssKB(-1): no error")
	}
	if _, err := TreePssKB([]int{-1}); err == nil {
		t.Error("TreePssKB of a gone root: no error")
	}
	if _, err := TreePssKB(nil); err == nil {
		t.Error("TreePssKB(nil): no error")
	}
	if sum, err := TreePssKB([]int{os.Getpid(), -1}); err != nil || sum <= 0 {
		t.Errorf("TreePssKB(self, gone) = %d, %v", sum, err)
	}
	if busy, err := MachineBusy(); err != nil || busy <= 0 {
		t.Errorf("MachineBusy() = %s, %v", busy, err)
	}
}

func TestIsCeleryWorker(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want bool
	}{
		{[]string{"/usr/bin/python3", "-m", "celery", "-A", "tasks", "worker", "-Q", "a"}, true},
		{[]string{"/usr/bin/celery", "-A", "tasks", "worker"}, true},
		{[]string{"/usr/bin/python3", "-m", "celery", "-A", "tasks", "inspect"}, false},
		{[]string{"revrx-apphost", "-A", "tasks"}, false},
		{nil, false},
	} {
		if got := IsCeleryWorker(tc.argv); got != tc.want {
			t.Errorf("IsCeleryWorker(%q) = %v, want %v", tc.argv, got, tc.want)
		}
	}
}
