//go:build linux

package pool

// Several pools share one app host: the worker mains of several queue
// groups are forked from it. Each pool holds it from New to the end of its
// Run; the last one to end closes it (and the services it shares).

// use counts one more pool that forks from the host (New).
func (h *AppHost) use() { h.users.Add(1) }

// release is a pool's end of use (the end of its Run): the last one closes
// the host, so the mains of several queue groups share it to the end.
func (h *AppHost) release() {
	if h.users.Add(-1) <= 0 {
		h.Close()
	}
}
