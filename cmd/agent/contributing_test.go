package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestContributingWalkthrough follows CONTRIBUTING.md section 6 from an
// empty directory: its Go code becomes a module of its own (built against
// this checkout), its pipeline runs in the real agent, and what the text
// promises is checked, so that the walkthrough stays true.
func TestContributingWalkthrough(t *testing.T) {
	doc, err := os.ReadFile("../../CONTRIBUTING.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i := strings.Index(text, "## 6. Shipping a plugin as its own binary")
	if i < 0 {
		t.Fatal("CONTRIBUTING.md has no section 6")
	}
	section := text[i:]
	blocks := regexp.MustCompile("(?s)```(go|toml)\n(.*?)```").FindAllStringSubmatch(section, -1)
	var code, pipeline string
	for _, b := range blocks {
		switch {
		case b[1] == "go" && code == "":
			code = b[2]
		case b[1] == "toml" && pipeline == "":
			pipeline = b[2]
		}
	}
	if code == "" || pipeline == "" {
		t.Fatalf("section 6 lacks its go or toml block")
	}

	repo, _ := filepath.Abs("../..")
	dir := t.TempDir()
	gomod := "module example.com/upper\n\ngo 1.26\n\nrequire github.com/rowflux/rowflux v0.0.0\n\nreplace github.com/rowflux/rowflux => " + repo + "\n"
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"go.mod": gomod, "go.sum": string(sum), "main.go": code, "pipeline.toml": pipeline} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// go.sum holds this repository's sums, a superset of what the plugin
	// needs, so the build runs from the module cache.
	build := exec.Command("go", "build", "-mod=mod", "-o", "upper", ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the walkthrough's plugin: %v\n%s", err, out)
	}

	run := func(config string) result {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "pipeline.toml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(agentBin, "--config", "pipeline.toml", "--test", "--test-duration", "1s")
		cmd.Dir = dir
		var out, errb syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{code, string(out.Bytes()), string(errb.Bytes())}
	}
	r := run(pipeline)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`msg="external plugin started"`, `msg="upper ready" processor=processors.external plugin=upper tags=[currency]`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the agent's log lacks %s:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, `"tags":{"currency":"EUR"}`) && !strings.Contains(r.stdout, `"tags":{"currency":"USD"}`) {
		t.Errorf("no upper-cased tag in the output:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, `"currency":"eur"`) || strings.Contains(r.stdout, `"currency":"usd"`) {
		t.Errorf("a tag passed through unchanged:\n%s", r.stdout)
	}

	r = run(strings.Replace(pipeline, `tags = ["currency"]`, "tags = []", 1))
	if want := "agent: processors.external: upper: tags: name at least one tag"; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("with tags = []: exit %d, want 2 and %q:\n%s", r.code, want, r.stderr)
	}
	if !strings.Contains(section, "`agent: processors.external: upper: tags: name\nat least one tag`") {
		t.Errorf("CONTRIBUTING.md no longer quotes the error this test checks")
	}
}
