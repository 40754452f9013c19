//go:build !linux

package pool

// The pool is Linux-only: it relies on process groups, the parent-death
// signal (prctl PR_SET_PDEATHSIG), the child subreaper (PR_SET_CHILD_SUBREAPER),
// waitid(WNOWAIT), SCM_RIGHTS over SOCK_SEQPACKET and /proc. Elsewhere the
// build stops here, naming the reason.
var _ = revrxSupervisePoolRequiresLinux
