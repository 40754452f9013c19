// Package docker holds the offline checks of examples/docker: the Dockerfile
// and the compose file of the whole loop. No image is built or pulled here
// (no registry is reachable). The Dockerfile is read with BuildKit's own
// parser (github.com/moby/buildkit/frontend/dockerfile): the build stage's
// `go build` runs for real, and the runtime stage's commands are checked for
// what can be checked without Debian's image. The compose file is validated
// by the compose tool and loaded with compose-go (the compose-spec schema:
// an unknown key fails) to check every path, port and name it refers to.
package docker

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

const (
	buildImage   = "golang:1.26-bookworm"
	runtimeImage = "debian:bookworm-slim"
	repoRoot     = "../.."
)

// dockerfile is the Dockerfile as BuildKit's frontend reads it.
type dockerfile struct {
	stages []instructions.Stage
	lex    *shell.Lex // the shell-word lexer, with the file's escape token
}

// parseDockerfile parses file with BuildKit's Dockerfile parser into its
// stages; a parse error, a parser warning or a lint warning of the rules the
// instruction parser runs fails the test.
func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages, lex, err := readDockerfile(f, func(msg string, line int) { t.Errorf("%s:%d: %s", file, line, msg) })
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return dockerfile{stages: stages, lex: lex}
}

// readDockerfile parses r with BuildKit; warn gets the parser's and the
// linter's warnings.
func readDockerfile(r io.Reader, warn func(msg string, line int)) ([]instructions.Stage, *shell.Lex, error) {
	res, err := parser.Parse(r)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range res.Warnings {
		at := 0
		if w.Location != nil {
			at = w.Location.Start.Line
		}
		warn(w.Short, at)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		warn(rule+": "+msg, firstLine(loc))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, nil, err
	}
	return stages, shell.NewLex(res.EscapeToken), nil
}

func firstLine(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// line is where cmd starts in the Dockerfile.
func line(cmd instructions.Command) int { return firstLine(cmd.Location()) }

// commands returns the commands of type T of st, in order.
func commands[T instructions.Command](st instructions.Stage) []T {
	var out []T
	for _, c := range st.Commands {
		if x, ok := c.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// script is the shell command line of a RUN, CMD or ENTRYPOINT.
func script(c instructions.ShellDependantCmdLine) string { return strings.Join(c.CmdLine, " ") }

// envOf is the stage's ENV, each value as Docker expands it (quotes removed,
// earlier variables substituted).
func (d dockerfile) envOf(t *testing.T, st instructions.Stage) map[string]string {
	t.Helper()
	env := map[string]string{}
	var kvs []string
	for _, in := range commands[*instructions.EnvCommand](st) {
		for _, kv := range in.Env {
			if kv.NoDelim {
				t.Fatalf("line %d: ENV %s %s: want KEY=VALUE (the legacy ENV KEY VALUE form is ambiguous)", line(in), kv.Key, kv.Value)
			}
			v, _, err := d.lex.ProcessWord(kv.Value, shell.EnvsFromSlice(kvs))
			if err != nil {
				t.Fatalf("line %d: ENV %s: %v", line(in), kv.Key, err)
			}
			env[kv.Key] = v
			kvs = append(kvs, kv.Key+"="+v)
		}
	}
	return env
}

// words splits s as the shell would (quotes and backslashes), with the
// stage's ENV for variables.
func (d dockerfile) words(s string, env map[string]string) ([]string, error) {
	var kvs []string
	for k, v := range env {
		kvs = append(kvs, k+"="+v)
	}
	return d.lex.ProcessWords(s, shell.EnvsFromSlice(kvs))
}

// execForm returns the argv of a CMD, ENTRYPOINT or HEALTHCHECK in the exec
// form (["a", "b"]), and fails the test on the shell form.
func execForm(t *testing.T, cmd instructions.Command, c instructions.ShellDependantCmdLine) []string {
	t.Helper()
	if c.PrependShell || len(c.CmdLine) == 0 {
		t.Fatalf("line %d: %v: want the exec form [\"...\"] (no shell in between, so signals reach PID 1)", line(cmd), cmd)
	}
	return c.CmdLine
}

func dockerfileStages(t *testing.T) (d dockerfile, build, runtime instructions.Stage) {
	t.Helper()
	d = parseDockerfile(t, "Dockerfile")
	if len(d.stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want 2 (build, runtime)", len(d.stages))
	}
	build, runtime = d.stages[0], d.stages[1]
	if build.BaseName != buildImage || build.Name == "" {
		t.Errorf("build stage: FROM %s AS %q, want FROM %s AS <name>", build.BaseName, build.Name, buildImage)
	}
	if runtime.BaseName != runtimeImage {
		t.Errorf("runtime stage: FROM %s, want %s", runtime.BaseName, runtimeImage)
	}
	return d, build, runtime
}

// installedBinary is where the runtime stage puts the binary.
func installedBinary(t *testing.T, runtime instructions.Stage) string {
	t.Helper()
	for _, in := range commands[*instructions.CopyCommand](runtime) {
		if in.From != "" {
			return in.DestPath
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
	d, _, runtime := dockerfileStages(t)
	user := ""
	for _, in := range commands[*instructions.UserCommand](runtime) {
		user = in.User
	}
	if user == "" || user == "root" || user == "0" {
		t.Errorf("runtime stage: USER %q, want a non-root user", user)
	}
	env := d.envOf(t, runtime)
	if !checkRuns(t, d, runtime, env, user) {
		t.Errorf("runtime stage: USER %s is not created by a useradd", user)
	}

	if env["REVRX_SPAWN"] != "" && env["REVRX_SPAWN"] != "fork" {
		t.Errorf("REVRX_SPAWN=%s: the image is meant for the default --spawn=fork", env["REVRX_SPAWN"])
	}
	for _, in := range commands[*instructions.CmdCommand](runtime) {
		if strings.Contains(script(in.ShellDependantCmdLine), "--spawn") {
			t.Errorf("line %d: %s: the image is meant for the default --spawn=fork", line(in), in)
		}
	}
	for _, in := range commands[*instructions.EntrypointCommand](runtime) {
		if strings.Contains(script(in.ShellDependantCmdLine), "--spawn") {
			t.Errorf("line %d: %s: the image is meant for the default --spawn=fork", line(in), in)
		}
	}
	celeryCmd := strings.Fields(env["REVRX_CELERY_CMD"])
	if len(celeryCmd) != 3 || celeryCmd[1] != "-m" || celeryCmd[2] != "celery" {
		t.Errorf("REVRX_CELERY_CMD=%q: want INTERPRETER -m celery", env["REVRX_CELERY_CMD"])
	} else if out, err := exec.Command("dpkg", "-S", celeryCmd[0]).CombinedOutput(); err != nil {
		t.Errorf("REVRX_CELERY_CMD interpreter %s: no Debian package ships it here (dpkg -S: %v, %s)", celeryCmd[0], err, out)
	}
	checkAppCopied(t, runtime, env)
}

// checkRuns checks every RUN of the stage with bash -n, its apt-get
// installs and useradds, and reports whether one creates user.
func checkRuns(t *testing.T, d dockerfile, st instructions.Stage, env map[string]string, user string) bool {
	t.Helper()
	runs := commands[*instructions.RunCommand](st)
	if len(runs) == 0 {
		t.Fatal("runtime stage: no RUN")
	}
	created := false
	for _, in := range runs {
		args := script(in.ShellDependantCmdLine)
		if b, err := exec.Command("bash", "-n", "-c", args).CombinedOutput(); err != nil {
			t.Errorf("line %d: bash -n: %v\n%s", line(in), err, b)
		}
		for _, part := range regexp.MustCompile(`&&|\|\||;`).Split(args, -1) {
			words, err := d.words(part, env)
			if err != nil || len(words) == 0 {
				t.Errorf("line %d: %q: %v", line(in), part, err)
				continue
			}
			switch words[0] {
			case "apt-get":
				if len(words) > 1 && words[1] == "install" {
					checkAptPackages(t, line(in), words[2:])
				}
			case "useradd":
				checkUseradd(t, line(in), words[1:])
				created = created || words[len(words)-1] == user
			}
		}
	}
	return created
}

// checkAppCopied wants examples/app/ copied to the WORKDIR and CELERY_APP a
// module of it, and every COPY source to exist.
func checkAppCopied(t *testing.T, st instructions.Stage, env map[string]string) {
	t.Helper()
	workdir := ""
	for _, in := range commands[*instructions.WorkdirCommand](st) {
		workdir = in.Path
	}
	appCopied := false
	for _, in := range commands[*instructions.CopyCommand](st) {
		if in.From != "" {
			continue
		}
		for _, src := range in.SourcePaths {
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("line %d: COPY %s: %v", line(in), src, err)
			}
		}
		if slices.Equal(in.SourcePaths, []string{"examples/app/"}) && strings.TrimSuffix(in.DestPath, "/") == workdir {
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
func checkAptPackages(t *testing.T, line int, args []string) {
	t.Helper()
	var pkgs []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			pkgs = append(pkgs, a)
		}
	}
	if len(pkgs) == 0 {
		t.Errorf("line %d: apt-get install of nothing", line)
		return
	}
	if _, err := exec.LookPath("apt-cache"); err != nil {
		t.Fatalf("line %d: cannot check the packages %v: no apt-cache here (a Debian machine is needed)", line, pkgs)
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
			t.Errorf("line %d: apt package %s: no candidate in apt-cache policy (run apt-get update; or the name is wrong)", line, p)
		}
	}
}

// checkUseradd wants every option of the useradd to be one this Debian's
// useradd knows, with its value, and the account name last.
func checkUseradd(t *testing.T, line int, args []string) {
	t.Helper()
	help, _ := exec.Command("useradd", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--home-dir") {
		t.Fatalf("useradd --help: %q: cannot check the useradd of line %d (package passwd)", help, line)
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
			t.Errorf("line %d: useradd %s: not an option of useradd", line, args[i])
			continue
		}
		if takes && !inline {
			i++
		}
		if name == "--shell" || name == "-s" {
			if _, err := os.Stat(args[i]); err != nil {
				t.Errorf("line %d: useradd shell %s: %v", line, args[i], err)
			}
		}
	}
	if len(args)-i != 1 {
		t.Errorf("line %d: useradd %v: want options then exactly one LOGIN", line, args)
	}
}

// TestHealthcheckAndStop: HEALTHCHECK runs the installed binary, exec form;
// the entrypoint is the supervisor; STOPSIGNAL SIGTERM; and the stop timeout
// the comment recommends covers --shutdown-timeout + MAX x 1.1 s of the CMD.
func TestHealthcheckAndStop(t *testing.T) {
	d, _, runtime := dockerfileStages(t)
	bin := installedBinary(t, runtime)
	hcs := commands[*instructions.HealthCheckCommand](runtime)
	if len(hcs) != 1 {
		t.Fatalf("runtime stage: %d HEALTHCHECKs, want 1", len(hcs))
	}
	hc := hcs[0].Health
	if len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != bin || hc.Test[2] != "healthcheck" {
		t.Errorf("line %d: HEALTHCHECK test %q: want CMD [%q, \"healthcheck\", ...] in the exec form (the binary the image installs)", line(hcs[0]), hc.Test, bin)
	}
	if hc.StartPeriod < 15*time.Second {
		t.Errorf("HEALTHCHECK --start-period=%v: want >= 15s (the app host imports the app, then MIN workers start)", hc.StartPeriod)
	}
	if hc.Timeout <= 2*time.Second {
		t.Errorf("HEALTHCHECK --timeout=%v: want > 2s, the healthcheck command's own HTTP timeout", hc.Timeout)
	}
	if hc.Interval == 0 {
		t.Error("HEALTHCHECK: no --interval")
	}

	eps := commands[*instructions.EntrypointCommand](runtime)
	if len(eps) != 1 || execForm(t, eps[0], eps[0].ShellDependantCmdLine)[0] != bin {
		t.Errorf("runtime stage: ENTRYPOINT %v, want [%q] in exec form (the supervisor is PID 1)", eps, bin)
	}
	if ss := commands[*instructions.StopSignalCommand](runtime); len(ss) != 1 || ss[0].Signal != "SIGTERM" {
		t.Errorf("runtime stage: STOPSIGNAL %v, want SIGTERM", ss)
	}

	cmds := commands[*instructions.CmdCommand](runtime)
	if len(cmds) != 1 {
		t.Fatalf("runtime stage: %d CMDs, want 1", len(cmds))
	}
	max := autoscaleMax(t, execForm(t, cmds[0], cmds[0].ShellDependantCmdLine))
	shutdown, err := time.ParseDuration(d.envOf(t, runtime)["REVRX_SHUTDOWN_TIMEOUT"])
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

// TestDockerfileParserRejects shows that BuildKit's parser fails on broken
// Dockerfiles and that its warnings reach the test.
func TestDockerfileParserRejects(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"unknown instruction", "FROM debian:bookworm-slim\nCOPPY a b\n"},
		{"bad duration", "FROM debian:bookworm-slim\nHEALTHCHECK --interval=10x CMD [\"true\"]\n"},
		{"ENV without a value", "FROM debian:bookworm-slim\nENV A\n"},
		{"no FROM", "ENV A=1\n"},
	} {
		var warnings []string
		_, _, err := readDockerfile(strings.NewReader(tc.file), func(msg string, _ int) { warnings = append(warnings, msg) })
		if err == nil {
			t.Errorf("%s: readDockerfile(%q) = nil error (warnings %q), want one", tc.name, tc.file, warnings)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	var warnings []string
	_, _, err := readDockerfile(strings.NewReader("FROM golang:1.26-bookworm as Build\nRUN true\n"),
		func(msg string, _ int) { warnings = append(warnings, msg) })
	if err != nil || len(warnings) != 2 {
		t.Errorf("readDockerfile(FROM ... as Build) = %v, warnings %q; want FromAsCasing and StageNameCasing", err, warnings)
	}
}
