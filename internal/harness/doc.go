// Package harness is what the developer harnesses (cmd/revrx-bench,
// cmd/revrx-chaos, cmd/revrx-startup) and the end-to-end tests share:
//
//   - a private redis-server on a free loopback port, never the system
//     Redis on 6379 (Redis, StartRedis; StartTestRedis for a test);
//   - RESP over one TCP connection, without a child process (Client);
//   - children started in a process group of their own, stopped and killed
//     by PID, never by name (Process, KillAll);
//   - /proc readings: stat (parent, group, state, CPU ticks), the process
//     tree, command lines, PSS and RSS, the machine's busy CPU time.
//
// It is Linux-only and imports neither testing nor a Redis client.
//
//	srv := harness.StartTestRedis(t)          // killed at cleanup
//	srv.Command(t, "LPUSH", "reports", "x")   // RESP, no redis-cli
//	url := srv.URL(0)                         // "redis://127.0.0.1:PORT/0"
//
//	p, err := harness.StartLogged("worker", argv, dir, env, "worker.log")
//	took, err := p.Stop(syscall.SIGTERM, 10*time.Second) // then the tree is SIGKILLed
//	kb, err := harness.TreePssKB(harness.Tree(p.PID(), harness.Table()))
package harness
