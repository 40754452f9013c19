package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// BuildSupervisor compiles ./cmd/revrx-supervise of the module at root into
// out as `make build` and the image's build stage do: static (CGO_ENABLED=0)
// and with -trimpath. Tests therefore run the binary users get, and one
// compile of the dependencies serves the build, go vet, the examples module
// and the Dockerfile's build stage (a -trimpath build shares no cache entry
// with a plain one). The error carries the compiler's output.
func BuildSupervisor(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/revrx-supervise")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/revrx-supervise: %w\n%s", err, b)
	}
	return nil
}
