// Package web is the read-only HTTP interface of revrx-supervise: the
// Prometheus metrics, the health checks (/livez, /readyz), the status
// snapshot as JSON (/status) and the self-contained HTML status page (/)
// with its SVG chart of the last hour. It renders what the control loop
// (package supervisor) records and changes nothing:
//
//	srv := &http.Server{Addr: ":9808", Handler: web.Handler(sup, reg, log)}
//
// The dependency goes one way: web reads a Source (a *supervisor.Supervisor),
// supervisor knows nothing of web.
package web
