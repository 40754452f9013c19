package harness

import (
	"errors"
	"os"
	"path/filepath"
)

// RepoRoot returns the nearest directory upwards from the working directory
// that holds examples/app/tasks.py: the revrx-supervise checkout the
// developer tools and tests run the example app from.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "examples", "app", "tasks.py")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from the revrx-supervise repository (examples/app/tasks.py not found)")
		}
		dir = parent
	}
}
