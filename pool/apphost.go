//go:build linux

package pool

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// appHostSource is the Python program of the app host (see apphost.py).
//
//go:embed apphost.py
var appHostSource string

// extensionFiles are the Python modules the app host imports from memory
// (pool/ext): the held-hash tracking and the pool engine's extension.
//
//go:embed ext/*.py
var extensionFiles embed.FS

// hostProgram is what the interpreter reads on its standard input, so no
// file is written: _REVRX_MODULES (module name -> source, a JSON object,
// which is also a Python dict literal) and then the app host itself.
func hostProgram() (string, error) {
	entries, err := extensionFiles.ReadDir("ext")
	if err != nil {
		return "", err
	}
	modules := make(map[string]string, len(entries))
	for _, e := range entries {
		src, err := extensionFiles.ReadFile("ext/" + e.Name())
		if err != nil {
			return "", err
		}
		modules[strings.TrimSuffix(e.Name(), ".py")] = string(src)
	}
	js, err := json.Marshal(modules)
	if err != nil {
		return "", err
	}
	return "_REVRX_MODULES = " + string(js) + "\n" + appHostSource, nil
}

// How workers are started (Worker.Spawn).
const (
	SpawnFork = "fork" // forked from the app host, which imported the app once
	SpawnExec = "exec" // a fresh interpreter that imports everything again
)

// Sentinel errors of the app host. Match them with errors.Is.
var (
	// ErrHostDown means the app host is not running or failed while serving
	// a request; the pool then execs the worker instead.
	ErrHostDown = errors.New("app host is down")
	// ErrNoInterpreter means no Python interpreter could be found in the
	// celery command prefix.
	ErrNoInterpreter = errors.New("no python interpreter in the celery command")
)

// ImportError is the app host's report that the app could not be imported.
type ImportError struct {
	Message   string   // the exception, e.g. "ModuleNotFoundError: No module named 'proj'"
	Traceback []string // its last lines
}

func (e *ImportError) Error() string { return "cannot import the app: " + e.Message }

// AppConfig is the app's effective configuration as the app host reports
// it, with the worker's environment applied (CELERY_BROKER_URL wins over the
// app's broker_url, as in Celery). BrokerURL may hold a password: never log
// it unredacted.
type AppConfig struct {
	BrokerURL          string  `json:"broker_url"`
	KeyPrefix          string  `json:"global_keyprefix"`
	PrioritySteps      []int   `json:"priority_steps"`
	Sep                string  `json:"sep"`
	VisibilityTimeout  float64 `json:"visibility_timeout"` // seconds
	QueueOrderStrategy string  `json:"queue_order_strategy"`
	MasterName         string  `json:"master_name"` // sentinel master_name transport option
	DefaultQueue       string  `json:"task_default_queue"`
	AcksLate           bool    `json:"task_acks_late"`
	PrefetchMultiplier int     `json:"worker_prefetch_multiplier"`
	App                string  `json:"app"` // the app's main name
	CeleryVersion      string  `json:"celery_version"`
	KombuVersion       string  `json:"kombu_version"`
	PythonVersion      string  `json:"python_version"`
	// PoolEngineGap is "" when this Celery, billiard and kombu have the
	// private fields the pool engine's extension relies on, else what is
	// missing (the version gate, pool/ext/revrx_gate.py).
	PoolEngineGap string `json:"pool_engine_gap"`
}

// Visibility returns VisibilityTimeout as a duration.
func (c AppConfig) Visibility() time.Duration {
	return time.Duration(c.VisibilityTimeout * float64(time.Second))
}

// HostState is the app host's state, for readiness and /status.
type HostState struct {
	Enabled  bool      `json:"enabled"`
	Ready    bool      `json:"ready"` // the app is imported and forks are served
	PID      int       `json:"pid,omitempty"`
	Restarts int       `json:"restarts"`
	Since    time.Time `json:"since,omitzero"`  // of the current state
	Err      string    `json:"error,omitempty"` // why it is not ready
	// ImportError is set while the last start failed to import the app.
	ImportError string `json:"import_error,omitempty"`
}

// Interpreter returns the Python command line (interpreter and its
// options) that runs Celery in the command prefix cmd:
//
//	/usr/bin/python3 -m celery     -> /usr/bin/python3
//	python3 -X dev -m celery       -> python3 -X dev
//	celery (a "#!/usr/bin/python3" script)       -> /usr/bin/python3
//	celery (Debian's /bin/sh wrapper: "exec python3 $0") -> python3
//
// It returns an error wrapping ErrNoInterpreter otherwise.
func Interpreter(cmd []string) ([]string, error) {
	for i := 0; i+1 < len(cmd); i++ {
		if cmd[i] == "-m" && cmd[i+1] == "celery" {
			if i == 0 {
				break
			}
			return append([]string{}, cmd[:i]...), nil
		}
	}
	if len(cmd) != 1 {
		return nil, fmt.Errorf("%q: %w", strings.Join(cmd, " "), ErrNoInterpreter)
	}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		return nil, fmt.Errorf("%q: %w", cmd[0], ErrNoInterpreter)
	}
	head, err := readHead(path, 4096)
	if err != nil {
		return nil, fmt.Errorf("%q: %w: %w", path, ErrNoInterpreter, err)
	}
	if interp := scriptInterpreter(head); interp != nil {
		return interp, nil
	}
	return nil, fmt.Errorf("%q is not a python script: %w", path, ErrNoInterpreter)
}

// scriptInterpreter returns the python that the script starting with head
// runs: its "#!" line if that names python, or the python3 that Debian's
// /bin/sh wrapper for celery execs.
func scriptInterpreter(head string) []string {
	first, _, _ := strings.Cut(head, "\n")
	if rest, ok := strings.CutPrefix(first, "#!"); ok {
		f := strings.Fields(rest)
		if len(f) > 0 && strings.HasSuffix(f[0], "/env") {
			f = f[1:]
		}
		if len(f) > 0 && strings.Contains(f[0], "python") {
			return f
		}
	}
	if strings.Contains(head, `exec python3 "$0"`) {
		return []string{"python3"}
	}
	return nil
}

func readHead(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := f.Read(buf)
	if m == 0 && err != nil {
		return "", err
	}
	return string(buf[:m]), nil
}
