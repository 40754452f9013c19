// Package docker holds the offline checks of examples/docker: the Dockerfile
// and the compose file of the whole loop. No image is built or pulled here
// (no registry is reachable): the build stage's `go build` runs for real, the
// runtime stage's commands are checked for what can be checked without
// Debian's image, and the compose file is validated by the compose tool and
// decoded strictly to check every path, port and name it refers to.
package docker

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	buildImage   = "golang:1.26-bookworm"
	runtimeImage = "debian:bookworm-slim"
	repoRoot     = "../.."
)

// instruction is one Dockerfile instruction, continuation lines joined and
// comment lines dropped (as Docker does).
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

type stage struct {
	from, name string
	ins        []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile splits file into stages.
func parseDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", file, in.line, in.cmd)
			}
			return
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue // a comment, also inside a continuation
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// shellWords splits s as sh would (quotes and backslashes; no expansion).
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// envOf is the stage's ENV (KEY=VALUE pairs, quotes removed).
func envOf(t *testing.T, st stage) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, in := range st.all("ENV") {
		words, err := shellWords(in.args)
		if err != nil {
			t.Fatalf("line %d: %v", in.line, err)
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				t.Fatalf("line %d: ENV %q: want KEY=VALUE (the legacy ENV KEY VALUE form is ambiguous)", in.line, w)
			}
			env[k] = v
		}
	}
	return env
}

// execForm decodes a JSON exec form (["a", "b"]).
func execForm(t *testing.T, in instruction, args string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("line %d: %s %s: want the exec form [\"...\"] (no shell in between, so signals reach PID 1): %v", in.line, in.cmd, args, err)
	}
	return argv
}

func dockerfileStages(t *testing.T) (build, runtime stage) {
	t.Helper()
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want 2 (build, runtime)", len(stages))
	}
	build, runtime = stages[0], stages[1]
	if build.from != buildImage || build.name == "" {
		t.Errorf("build stage: FROM %s AS %q, want FROM %s AS <name>", build.from, build.name, buildImage)
	}
	if runtime.from != runtimeImage {
		t.Errorf("runtime stage: FROM %s, want %s", runtime.from, runtimeImage)
	}
	return build, runtime
}

var goBuildOut = regexp.MustCompile(`\s-o\s+(\S+)`)

// goBuildRun is the build stage's RUN with `go build` and its -o path.
func goBuildRun(t *testing.T, build stage) (instruction, string) {
	t.Helper()
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			m := goBuildOut.FindStringSubmatch(in.args)
			if m == nil {
				t.Fatalf("line %d: go build without -o", in.line)
			}
			return in, m[1]
		}
	}
	t.Fatal("build stage: no RUN go build")
	return instruction{}, ""
}

// TestGoBuildStage runs the build stage's `go build` with its flags and ENV
// (output into a temporary directory instead of /out), then runs the binary.
func TestGoBuildStage(t *testing.T) {
	build, runtime := dockerfileStages(t)
	run, out := goBuildRun(t, build)
	for _, flag := range []string{"-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "./cmd/revrx-supervise"} {
		if !strings.Contains(run.args, flag) {
			t.Errorf("line %d: %s: no %s", run.line, run.args, flag)
		}
	}
	env := envOf(t, build)
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("build stage ENV %v: want CGO_ENABLED=0 (a static binary: the runtime image needs no libc match)", env)
	}
	hasArg := false
	for _, in := range build.all("ARG") {
		hasArg = hasArg || strings.HasPrefix(in.args, "VERSION")
	}
	if !hasArg {
		t.Error("build stage: no ARG VERSION for -X main.version=${VERSION}")
	}

	// The sources the stage copies must hold every package the binary imports.
	copied := map[string]bool{}
	for _, in := range build.all("COPY") {
		f := strings.Fields(in.args)
		for _, src := range f[:len(f)-1] {
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

	// Run the RUN line itself, as the stage's shell would, in the repository
	// root (the stage's WORKDIR holds the same tree).
	bin := filepath.Join(t.TempDir(), "revrx-supervise")
	script := strings.Replace(run.args, out, bin, 1)
	const version = "docker-test-1.2.3"
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "VERSION="+version)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	begin := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	t.Logf("go build as the build stage: %v", time.Since(begin).Round(time.Millisecond))

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
	if err != nil || !strings.Contains(string(b), version) {
		t.Errorf("%s version: %v, %q; want %q (-X main.version)", bin, err, b, version)
	}
	hc := exec.Command(bin, "healthcheck", "--addr", "127.0.0.1:1")
	b, err = hc.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("healthcheck --addr 127.0.0.1:1: %v, %q; want exit 1 (nothing listens)", err, b)
	}

	// The runtime stage copies exactly this output.
	found := false
	for _, in := range runtime.all("COPY") {
		if f := strings.Fields(in.args); len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
			found = true
			if f[0] != "--from="+build.name || f[1] != out {
				t.Errorf("line %d: COPY %s: want --from=%s %s", in.line, in.args, build.name, out)
			}
		}
	}
	if !found {
		t.Error("runtime stage: no COPY --from of the binary")
	}
}

// installedBinary is where the runtime stage puts the binary.
func installedBinary(t *testing.T, runtime stage) string {
	t.Helper()
	for _, in := range runtime.all("COPY") {
		if f := strings.Fields(in.args); len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
			return f[2]
		}
	}
	t.Fatal("runtime stage: no COPY --from of the binary")
	return ""
}

// TestRuntimeStage checks the runtime stage's RUN commands offline: shell
// syntax, the Debian packages (in this machine's apt lists: Debian bookworm,
// as the image), useradd's options; and the paths and settings the stage
// relies on.
func TestRuntimeStage(t *testing.T) {
	_, runtime := dockerfileStages(t)
	runs := runtime.all("RUN")
	if len(runs) == 0 {
		t.Fatal("runtime stage: no RUN")
	}
	user := ""
	for _, in := range runtime.all("USER") {
		user = in.args
	}
	if user == "" || user == "root" || user == "0" {
		t.Errorf("runtime stage: USER %q, want a non-root user", user)
	}
	created := false
	for _, in := range runs {
		if b, err := exec.Command("bash", "-n", "-c", in.args).CombinedOutput(); err != nil {
			t.Errorf("line %d: bash -n: %v\n%s", in.line, err, b)
		}
		for _, part := range regexp.MustCompile(`&&|\|\||;`).Split(in.args, -1) {
			words, err := shellWords(part)
			if err != nil || len(words) == 0 {
				t.Errorf("line %d: %q: %v", in.line, part, err)
				continue
			}
			switch words[0] {
			case "apt-get":
				if len(words) > 1 && words[1] == "install" {
					checkAptPackages(t, in, words[2:])
				}
			case "useradd":
				checkUseradd(t, in, words[1:])
				if words[len(words)-1] == user {
					created = true
				}
			}
		}
	}
	if !created {
		t.Errorf("runtime stage: USER %s is not created by a useradd", user)
	}

	env := envOf(t, runtime)
	if env["REVRX_SPAWN"] != "" && env["REVRX_SPAWN"] != "fork" {
		t.Errorf("REVRX_SPAWN=%s: the image is meant for the default --spawn=fork", env["REVRX_SPAWN"])
	}
	for _, in := range append(runtime.all("CMD"), runtime.all("ENTRYPOINT")...) {
		if strings.Contains(in.args, "--spawn") {
			t.Errorf("line %d: %s %s: the image is meant for the default --spawn=fork", in.line, in.cmd, in.args)
		}
	}
	celeryCmd := strings.Fields(env["REVRX_CELERY_CMD"])
	if len(celeryCmd) != 3 || celeryCmd[1] != "-m" || celeryCmd[2] != "celery" {
		t.Errorf("REVRX_CELERY_CMD=%q: want INTERPRETER -m celery", env["REVRX_CELERY_CMD"])
	} else if out, err := exec.Command("dpkg", "-S", celeryCmd[0]).CombinedOutput(); err != nil {
		t.Errorf("REVRX_CELERY_CMD interpreter %s: no Debian package ships it here (dpkg -S: %v, %s)", celeryCmd[0], err, out)
	}

	// The app: COPY examples/app/ to the WORKDIR, CELERY_APP a module of it.
	workdir := ""
	for _, in := range runtime.all("WORKDIR") {
		workdir = in.args
	}
	appCopied := false
	for _, in := range runtime.all("COPY") {
		f := strings.Fields(in.args)
		if strings.HasPrefix(f[0], "--") {
			continue
		}
		for _, src := range f[:len(f)-1] {
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("line %d: COPY %s: %v", in.line, src, err)
			}
		}
		if strings.TrimSuffix(f[0], "/") == "examples/app" && strings.TrimSuffix(f[len(f)-1], "/") == workdir {
			appCopied = true
		}
	}
	if !appCopied {
		t.Errorf("runtime stage: examples/app/ is not copied to the WORKDIR %q", workdir)
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "examples/app", env["CELERY_APP"]+".py")); err != nil {
		t.Errorf("CELERY_APP=%s: %v", env["CELERY_APP"], err)
	}
}

// checkAptPackages wants every package of an apt-get install to have a
// candidate in this machine's apt lists (Debian bookworm, like the image).
func checkAptPackages(t *testing.T, in instruction, args []string) {
	t.Helper()
	var pkgs []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			pkgs = append(pkgs, a)
		}
	}
	if len(pkgs) == 0 {
		t.Errorf("line %d: apt-get install of nothing", in.line)
		return
	}
	if _, err := exec.LookPath("apt-cache"); err != nil {
		t.Fatalf("line %d: cannot check the packages %v: no apt-cache here (a Debian machine is needed)", in.line, pkgs)
	}
	out, err := exec.Command("apt-cache", append([]string{"policy"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("apt-cache policy: %v\n%s", err, out)
	}
	candidate := map[string]string{}
	pkg := ""
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") {
			pkg = strings.TrimSuffix(line, ":")
		} else if c, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			candidate[pkg] = strings.TrimSpace(c)
		}
	}
	for _, p := range pkgs {
		if c := candidate[p]; c == "" || c == "(none)" {
			t.Errorf("line %d: apt package %s: no candidate in apt-cache policy (run apt-get update; or the name is wrong)", in.line, p)
		}
	}
}

// checkUseradd wants every option of the useradd to be one this Debian's
// useradd knows, with its value, and the account name last.
func checkUseradd(t *testing.T, in instruction, args []string) {
	t.Helper()
	help, _ := exec.Command("useradd", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--home-dir") {
		t.Fatalf("useradd --help: %q: cannot check the useradd of line %d (package passwd)", help, in.line)
	}
	// "  -u, --uid UID   user ID ..." -> "--uid": true (takes a value)
	opts := map[string]bool{}
	re := regexp.MustCompile(`(?m)^\s+(?:(-\w), )?(--[\w-]+)( [A-Z_]+)?`)
	for _, m := range re.FindAllStringSubmatch(string(help), -1) {
		if m[1] != "" {
			opts[m[1]] = m[3] != ""
		}
		opts[m[2]] = m[3] != ""
	}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		name, _, inline := strings.Cut(args[i], "=")
		takes, ok := opts[name]
		if !ok {
			t.Errorf("line %d: useradd %s: not an option of useradd", in.line, args[i])
			continue
		}
		if takes && !inline {
			i++
		}
		if name == "--shell" || name == "-s" {
			if _, err := os.Stat(args[i]); err != nil {
				t.Errorf("line %d: useradd shell %s: %v", in.line, args[i], err)
			}
		}
	}
	if len(args)-i != 1 {
		t.Errorf("line %d: useradd %v: want options then exactly one LOGIN", in.line, args)
	}
}

// TestHealthcheckAndStop: HEALTHCHECK runs the installed binary, exec form;
// the entrypoint is the supervisor; STOPSIGNAL SIGTERM; and the stop timeout
// the comment recommends covers --shutdown-timeout + MAX x 1.1 s of the CMD.
func TestHealthcheckAndStop(t *testing.T) {
	_, runtime := dockerfileStages(t)
	bin := installedBinary(t, runtime)
	hcs := runtime.all("HEALTHCHECK")
	if len(hcs) != 1 {
		t.Fatalf("runtime stage: %d HEALTHCHECKs, want 1", len(hcs))
	}
	hc := hcs[0]
	opts, cmd, ok := strings.Cut(hc.args, "CMD ")
	if !ok {
		t.Fatalf("line %d: HEALTHCHECK %s: no CMD", hc.line, hc.args)
	}
	argv := execForm(t, hc, strings.TrimSpace(cmd))
	if argv[0] != bin || len(argv) < 2 || argv[1] != "healthcheck" {
		t.Errorf("line %d: HEALTHCHECK CMD %v: want [%q, \"healthcheck\", ...] (the binary the image installs)", hc.line, argv, bin)
	}
	durations := map[string]time.Duration{}
	for _, o := range strings.Fields(opts) {
		k, v, _ := strings.Cut(strings.TrimPrefix(o, "--"), "=")
		if k == "retries" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Errorf("line %d: HEALTHCHECK %s: %v", hc.line, o, err)
		}
		durations[k] = d
	}
	if d := durations["start-period"]; d < 15*time.Second {
		t.Errorf("HEALTHCHECK --start-period=%v: want >= 15s (the app host imports the app, then MIN workers start)", d)
	}
	if d := durations["timeout"]; d <= 2*time.Second {
		t.Errorf("HEALTHCHECK --timeout=%v: want > 2s, the healthcheck command's own HTTP timeout", d)
	}
	if durations["interval"] == 0 {
		t.Error("HEALTHCHECK: no --interval")
	}

	eps := runtime.all("ENTRYPOINT")
	if len(eps) != 1 || execForm(t, eps[0], eps[0].args)[0] != bin {
		t.Errorf("runtime stage: ENTRYPOINT %v, want [%q] in exec form (the supervisor is PID 1)", eps, bin)
	}
	if ss := runtime.all("STOPSIGNAL"); len(ss) != 1 || ss[0].args != "SIGTERM" {
		t.Errorf("runtime stage: STOPSIGNAL %v, want SIGTERM", ss)
	}

	cmds := runtime.all("CMD")
	if len(cmds) != 1 {
		t.Fatalf("runtime stage: %d CMDs, want 1", len(cmds))
	}
	max := autoscaleMax(t, execForm(t, cmds[0], cmds[0].args))
	shutdown, err := time.ParseDuration(envOf(t, runtime)["REVRX_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("REVRX_SHUTDOWN_TIMEOUT: %v", err)
	}
	data, _ := os.ReadFile("Dockerfile")
	m := regexp.MustCompile(`docker stop -t (\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("Dockerfile: no `docker stop -t N` recommendation in the comments")
	}
	secs, _ := strconv.Atoi(string(m[1]))
	if need := shutdownNeed(shutdown, max); time.Duration(secs)*time.Second <= need {
		t.Errorf("Dockerfile recommends docker stop -t %d, want > --shutdown-timeout %v + %d x 1.1 s = %v", secs, shutdown, max, need)
	}
}

// shutdownNeed is how long a supervisor stop can take: MAX drains one at a
// time (about 1.1 s each), then the warm shutdowns, up to --shutdown-timeout.
func shutdownNeed(shutdown time.Duration, max int) time.Duration {
	return shutdown + time.Duration(max)*1100*time.Millisecond
}

// autoscaleMax is MAX of the --autoscale=MAX[,MIN] in args.
func autoscaleMax(t *testing.T, args []string) int {
	t.Helper()
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--autoscale=")
		if !ok && a == "--autoscale" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			n, err := strconv.Atoi(strings.Split(v, ",")[0])
			if err != nil {
				t.Fatalf("--autoscale %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("%v: no --autoscale", args)
	return 0
}
