// Package prometheus holds no code: it is the home of the Prometheus files
// for revrx-supervise and of the tests that keep them right.
//
//   - rules.yml: the recording rules (revrx:queue_depth_per_worker,
//     revrx:tasks_per_worker, revrx:tasks_processed:rate1m,
//     revrx:queue_wait_seconds:p95 and :p50) and the alerts, each with a
//     severity label and a summary and description naming the metric, the
//     /status field, the log line or the flag to check;
//   - rules_test.yml: promtool unit tests, a firing and a non-firing case
//     for every alert and a case for every recording rule;
//   - prometheus.yml: a scrape config for the supervisor that loads rules.yml.
//
// The tests run promtool check and promtool test on them, fail when an alert
// or recording rule has no case, keep examples/kubernetes/prometheusrule.yaml
// equal to rules.yml (cd examples && go test ./prometheus -run PrometheusRule
// -update regenerates it) and podmonitor.yaml pointed at the Deployment's
// pods, and (without -short) run a real Prometheus scraping a real
// supervisor with real Celery workers.
package prometheus
