package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

var updateFlagsDoc = flag.Bool("update-flags-doc", false, "rewrite docs/flags.md from the CLI definition")

const flagsDocPath = "../../docs/flags.md"

// TestFlagsDocMatchesCLI: docs/flags.md is generated from the flags the
// command defines (names, environment variables, defaults, usage), so it
// cannot drift from them. After changing a flag:
//
//	go test ./cmd/revrx-supervise -run FlagsDoc -update-flags-doc
func TestFlagsDocMatchesCLI(t *testing.T) {
	got := flagsDoc()
	if *updateFlagsDoc {
		if err := os.WriteFile(flagsDocPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(flagsDocPath)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/revrx-supervise -run FlagsDoc -update-flags-doc writes it)", err)
	}
	if string(want) != got {
		t.Errorf("docs/flags.md differs from the CLI's flags; regenerate it: go test ./cmd/revrx-supervise -run FlagsDoc -update-flags-doc")
	}
}

// flagsDoc renders every flag of the command and its subcommands.
func flagsDoc() string {
	var b strings.Builder
	b.WriteString("# Flags\n\n")
	b.WriteString("Generated from the command's own definition by `go test ./cmd/revrx-supervise -run FlagsDoc " +
		"-update-flags-doc`; a test fails when it drifts. Every flag can also be set from the environment " +
		"variables listed (the first one set wins).\n\n")
	b.WriteString("## revrx-supervise [flags] [-- worker args...]\n\n")
	flagTable(&b, flags())
	for _, c := range []*cli.Command{simulateCommand(), statusCommand(), reportCommand(), healthcheckCommand()} {
		fmt.Fprintf(&b, "\n## revrx-supervise %s\n\n%s\n\n", c.Name, c.Usage)
		flagTable(&b, c.Flags)
	}
	return b.String()
}

func flagTable(b *strings.Builder, fs []cli.Flag) {
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for _, f := range fs {
		d, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		var names []string
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			names = append(names, "`"+dash+n+"`")
		}
		def := d.GetDefaultText()
		if def == "" && d.TakesValue() {
			def = d.GetValue()
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", strings.Join(names, ", "), codeList(d.GetEnvVars()),
			cell(def), cell(d.GetUsage()))
	}
}

func codeList(xs []string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = "`" + x + "`"
	}
	return strings.Join(out, ", ")
}

// cell makes s safe inside a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
