package supervisor

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestHostBudgetNeverPassesMax: groups that tick on their own, each growing
// up to what it was granted and shrinking at will, never hold more than the
// host max together: each grant leaves room for what the others hold or may
// still grow to under their own last grants.
func TestHostBudgetNeverPassesMax(t *testing.T) {
	names, mins, caps := []string{"video", "audio", "llm"}, []int{1, 0, 0}, []int{10, 10, 3}
	h := NewHostBudget(policy.Budget{Max: 10, RebalanceAfter: 5 * time.Second}, names, mins, caps)
	held := make([]int, len(names))
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 5000 {
		i := rng.IntN(len(names))
		held[i] = rng.IntN(held[i] + 1) // some of its processes exited
		ask := rng.IntN(caps[i] + 1)
		a, err := h.Grant(policy.GroupLoad{
			Name: names[i], Min: mins[i], Max: caps[i], Held: held[i], Ask: max(ask, mins[i]), Wanted: ask * 2,
			Backlog: int64(rng.IntN(100)), Runtime: time.Duration(rng.IntN(30)) * time.Second, OldestWait: time.Duration(rng.IntN(10)) * time.Second,
		}, t0.Add(time.Duration(step)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if a.Limit > caps[i] {
			t.Fatalf("step %d: %s limit %d above its cap %d", step, names[i], a.Limit, caps[i])
		}
		held[i] = max(held[i], min(a.Limit, max(ask, mins[i]))) // it grows to what it asked, within the limit
		if sum := held[0] + held[1] + held[2]; sum > 10 {
			t.Fatalf("step %d: %v alive together, above the host max 10 (%s)", step, held, a.Reason)
		}
	}
}

func TestHostBudgetUnknownGroup(t *testing.T) {
	h := NewHostBudget(policy.Budget{Max: 4}, []string{"a"}, []int{0}, []int{4})
	if _, err := h.Grant(policy.GroupLoad{Name: "b"}, t0); err == nil {
		t.Fatal("a group the budget does not know was granted a part")
	}
	if got := h.Allocations(); len(got) != 1 || got[0].Name != "a" {
		t.Fatalf("allocations %+v", got)
	}
}

func TestRuntimeMean(t *testing.T) {
	var r runtimeMean
	if r.mean() != 0 {
		t.Fatal("a mean before any runtime")
	}
	r.add(10)
	r.add(20)
	if got, want := r.mean(), 12*time.Second; got != want {
		t.Errorf("mean %s, want %s (10, then 20 at weight 0.2)", got, want)
	}
}

// TestHostBudgetWakesOthersWhenRoomFrees: a group whose grant gives back
// room it held wakes the other groups' loops, and only then.
func TestHostBudgetWakesOthersWhenRoomFrees(t *testing.T) {
	h := NewHostBudget(policy.Budget{Max: 4, RebalanceAfter: time.Second}, []string{"a", "b"}, []int{0, 0}, []int{4, 4})
	woken := func() bool {
		select {
		case <-h.Woken("b"):
			return true
		default:
			return false
		}
	}
	if _, err := h.Grant(policy.GroupLoad{Name: "a", Max: 4, Held: 4, Ask: 4, Wanted: 4, Backlog: 4}, t0); err != nil {
		t.Fatal(err)
	}
	if woken() {
		t.Fatal("b woken while a took room")
	}
	if _, err := h.Grant(policy.GroupLoad{Name: "a", Max: 4, Held: 4, Ask: 4, Wanted: 4, Backlog: 8}, t0); err != nil {
		t.Fatal(err)
	}
	if woken() {
		t.Fatal("b woken while nothing changed")
	}
	if _, err := h.Grant(policy.GroupLoad{Name: "a", Max: 4, Held: 1, Ask: 1, Wanted: 1}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if !woken() {
		t.Fatal("b not woken when a gave 3 processes back")
	}
	// b asks for 4: short of its share (3), it wakes a.
	if _, err := h.Grant(policy.GroupLoad{Name: "b", Max: 4, Held: 0, Ask: 4, Wanted: 4, Backlog: 4}, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	wokeA := false
	select {
	case <-h.Woken("a"):
		wokeA = true
	default:
	}
	if !wokeA {
		t.Error("a not woken when b became short of its share")
	}
	if h.Woken("a") == nil || h.Woken("zzz") != nil {
		t.Error("Woken: a channel for each known group, nil for others")
	}
}
