package docker

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// goBuildRun is the build stage's RUN with `go build` and its -o path.
func goBuildRun(t *testing.T, d dockerfile, build instructions.Stage) (*instructions.RunCommand, string) {
	t.Helper()
	for _, in := range commands[*instructions.RunCommand](build) {
		words, err := d.words(script(in.ShellDependantCmdLine), nil)
		if err != nil || !slices.Contains(words, "build") || words[0] != "go" {
			continue
		}
		if i := slices.Index(words, "-o"); i >= 0 && i+1 < len(words) {
			return in, words[i+1]
		}
		t.Fatalf("line %d: go build without -o", line(in))
	}
	t.Fatal("build stage: no RUN go build")
	return nil, ""
}

// TestGoBuildStage checks the build stage's flags, ENV, ARG and sources,
// then (without -short) runs its `go build` line (output into a temporary
// directory instead of /out) and the binary.
func TestGoBuildStage(t *testing.T) {
	d, build, runtime := dockerfileStages(t)
	run, out := goBuildRun(t, d, build)
	args := script(run.ShellDependantCmdLine)
	for _, flag := range []string{"-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "./cmd/revrx-supervise"} {
		if !strings.Contains(args, flag) {
			t.Errorf("line %d: %s: no %s", line(run), args, flag)
		}
	}
	env := d.envOf(t, build)
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("build stage ENV %v: want CGO_ENABLED=0 (a static binary: the runtime image needs no libc match)", env)
	}
	hasArg := false
	for _, in := range commands[*instructions.ArgCommand](build) {
		for _, a := range in.Args {
			hasArg = hasArg || a.Key == "VERSION"
		}
	}
	if !hasArg {
		t.Error("build stage: no ARG VERSION for -X main.version=${VERSION}")
	}

	// The sources the stage copies must hold every package the binary imports.
	copied := map[string]bool{}
	for _, in := range commands[*instructions.CopyCommand](build) {
		for _, src := range in.SourcePaths {
			copied[strings.TrimSuffix(src, "/")] = true
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if !copied[f] {
			t.Errorf("build stage: %s is not copied", f)
		}
	}
	list := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./cmd/revrx-supervise")
	list.Dir = repoRoot
	dirs, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs(repoRoot)
	for _, dir := range strings.Fields(string(dirs)) {
		rel, _ := filepath.Rel(root, dir)
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		if !copied[top] {
			t.Errorf("build stage: package dir %s is imported by the binary but %s/ is not copied", rel, top)
		}
	}

	// The runtime stage copies exactly this output.
	found := false
	for _, in := range commands[*instructions.CopyCommand](runtime) {
		if in.From != "" {
			found = true
			if in.From != build.Name || !slices.Equal(in.SourcePaths, []string{out}) {
				t.Errorf("line %d: %s: want COPY --from=%s %s", line(in), in, build.Name, out)
			}
		}
	}
	if !found {
		t.Error("runtime stage: no COPY --from of the binary")
	}

	if testing.Short() {
		t.Log("-short: the build stage's go build is not run (about 2 min with a cold build cache)")
		return
	}
	checkBinary(t, runBuildStage(t, args, out, env))
}

// runBuildStage runs the build stage's RUN line itself, as the stage's
// shell would, in the repository root (the stage's WORKDIR holds the same
// tree), with -o out replaced by a temporary file, and returns that file.
// The Go build cache is this machine's: a warm cache makes it a link.
func runBuildStage(t *testing.T, args, out string, env map[string]string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "revrx-supervise")
	script := strings.Replace(args, out, bin, 1)
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "VERSION="+testVersion)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	begin := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	t.Logf("go build as the build stage: %v", time.Since(begin).Round(time.Millisecond))
	return bin
}

// testVersion is the VERSION build argument of runBuildStage.
const testVersion = "docker-test-1.2.3"

// checkBinary wants bin static, stripped, stamped with testVersion, and its
// healthcheck to fail when nothing listens.
func checkBinary(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a .symtab: -s did not apply")
	}
	f.Close()

	b, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), testVersion) {
		t.Errorf("%s version: %v, %q; want %q (-X main.version)", bin, err, b, testVersion)
	}
	hc := exec.Command(bin, "healthcheck", "--addr", "127.0.0.1:1")
	b, err = hc.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("healthcheck --addr 127.0.0.1:1: %v, %q; want exit 1 (nothing listens)", err, b)
	}
}
