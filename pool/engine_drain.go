//go:build linux

package pool

import "fmt"

// Drain retires up to n busy pool processes and returns how many it
// retired: none takes a new job, each runs its current one to its end and
// is then stopped by its worker main as Stop would (it counts against MAX
// until it has exited). Reclaim takes one back before. The worker main
// picks the processes whose current job started most recently
// (pool/ext/revrx_retire.py says why).
func (e *Engine) Drain(n int) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	conn, _, err := e.attached()
	if err != nil {
		return 0, err
	}
	m, err := conn.request(map[string]any{"op": "retire", "n": n})
	if err != nil {
		return 0, err
	}
	return len(m.Retired), nil
}

// Reclaim takes back a retiring pool process (Drain): it takes new jobs
// again. ErrNotDraining if it is not retiring (a stop is immediate).
func (e *Engine) Reclaim(name string) error {
	m, err := e.requestFor("reclaim", "reclaim", name)
	if err != nil {
		return err
	}
	if len(m.Taken) == 0 {
		return fmt.Errorf("reclaim %q: %w", name, ErrNotDraining)
	}
	return nil
}
