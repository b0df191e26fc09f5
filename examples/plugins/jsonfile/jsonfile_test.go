package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/sdk"
)

// counters is an Env.Counter that keeps what it hands out, so that tests
// can read the values.
type counters map[string]*sdk.Counter

func (c counters) counter(name, _ string) *sdk.Counter {
	if c[name] == nil {
		c[name] = &sdk.Counter{}
	}
	return c[name]
}

func testEnv(c counters) sdk.Env {
	return sdk.Env{Logger: slog.New(slog.DiscardHandler), Counter: c.counter}
}

// newOutput decodes conf as the agent decodes a [config] table (unknown
// keys are errors) into the plugin the Registration makes, then runs Init.
func newOutput(t *testing.T, conf string, env sdk.Env) (*JSONFile, error) {
	t.Helper()
	j := Registration.New().(*JSONFile)
	md, err := toml.Decode(conf, j)
	if err != nil {
		t.Fatalf("decoding %q: %v", conf, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("unknown keys in %q: %v", conf, und)
	}
	err = j.Init(env)
	t.Cleanup(func() { j.Close() })
	return j, err
}

func pathConf(path string) string { return "path = " + quote(path) + "\n" }

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

var (
	batch1 = sdk.Batch{
		{
			Name: "transactions", Op: sdk.OpInsert,
			Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}},
			Fields: []sdk.Field{{Key: "amount", Value: 12.5}, {Key: "id", Value: int64(7)}},
			Time:   time.Date(2026, 11, 21, 5, 47, 3, 123456789, time.UTC),
		},
		{
			Name:   "transactions",
			Op:     sdk.OpDelete,
			Fields: []sdk.Field{{Key: "id", Value: int64(3)}},
			Time:   time.Date(2026, 11, 21, 5, 47, 4, 0, time.UTC),
		},
	}
	lines1 = []string{
		`{"name":"transactions","op":"insert","tags":{"currency":"EUR"},"fields":{"amount":12.5,"id":7},"time":"2026-11-21T05:47:03.123456789Z"}`,
		`{"name":"transactions","op":"delete","tags":{},"fields":{"id":3},"time":"2026-11-21T05:47:04Z"}`,
	}
	batch2 = sdk.Batch{
		{
			Name:   "volume",
			Tags:   []sdk.Tag{{Key: "category", Value: "books"}},
			Fields: []sdk.Field{{Key: "total", Value: 1250.75}, {Key: "label", Value: `say "hi"`}, {Key: "note", Value: nil}},
		},
	}
	lines2 = []string{
		`{"name":"volume","tags":{"category":"books"},"fields":{"total":1250.75,"label":"say \"hi\"","note":null}}`,
	}
)

func joinLines(groups ...[]string) string {
	var b strings.Builder
	for _, g := range groups {
		for _, l := range g {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "out.jsonl")
	tests := []struct {
		conf string
		want string
	}{
		{``, `path: required`},
		{`path = ""`, `path: required`},
		{pathConf(filepath.Join(dir, "a")) + `mode = "rw-r--r--"`, `mode: "rw-r--r--" is not an octal permission between "0000" and "0777", such as "0644"`},
		{pathConf(filepath.Join(dir, "a")) + `mode = "0999"`, `mode: "0999" is not an octal permission between "0000" and "0777", such as "0644"`},
		{pathConf(filepath.Join(dir, "a")) + `mode = "1777"`, `mode: "1777" is not an octal permission between "0000" and "0777", such as "0644"`},
		{pathConf(filepath.Join(dir, "a")) + `mode = "0o644"`, `mode: "0o644" is not an octal permission between "0000" and "0777", such as "0644"`},
		{pathConf(filepath.Join(dir, "a")) + `mode = ""`, `mode: "" is not an octal permission between "0000" and "0777", such as "0644"`},
		{pathConf(missing), `path: directory ` + filepath.Dir(missing) + ` does not exist (jsonfile does not create directories): open ` + missing + `: no such file or directory`},
		{pathConf(dir), `path: open ` + dir + `: is a directory`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			j, err := newOutput(t, tc.conf, testEnv(counters{}))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Init with %q: error %v, want %q", tc.conf, err, tc.want)
			}
			if err := j.Write(context.Background(), batch1); err == nil {
				t.Error("Write after a failed Init succeeded")
			}
			if err := j.Close(); err != nil {
				t.Errorf("Close after a failed Init: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing directory was created: %v", err)
	}
}

// TestWrite writes two batches and reads the file back, with each
// combination of settings.
func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		conf string
		perm fs.FileMode
	}{
		{"defaults", ``, 0o644},
		{"no fsync", "fsync = false\n", 0o644},
		{"private mode", `mode = "0600"` + "\n", 0o600},
		{"mode without leading zero", `mode = "640"` + "\n", 0o640},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			c := counters{}
			j, err := newOutput(t, tc.conf+pathConf(path), testEnv(c))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []sdk.Batch{batch1, nil, batch2} {
				if err := j.Write(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			want := joinLines(lines1, lines2)
			if got := readFile(t, path); got != want {
				t.Errorf("file holds\n%s\nwant\n%s", got, want)
			}
			if got := c["bytes_written"].Load(); got != int64(len(want)) {
				t.Errorf("bytes_written = %d, want %d", got, len(want))
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := info.Mode().Perm(), createdPerm(t, tc.perm); got != want {
				t.Errorf("file mode %v, want %v", got, want)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// createdPerm is the mode a file created with perm gets here, after the
// umask, which the test must not change (it is per process).
func createdPerm(t *testing.T, perm fs.FileMode) fs.FileMode {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reference")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, perm)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

// TestAppendAcrossInstances: a restarted plugin adds to the file, never
// truncates it.
func TestAppendAcrossInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte("earlier\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, b := range []sdk.Batch{batch1, batch2} {
		j, err := newOutput(t, pathConf(path)+`mode = "0644"`, testEnv(counters{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Write(context.Background(), b); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := readFile(t, path), "earlier\n"+joinLines(lines1, lines2); got != want {
		t.Errorf("file holds\n%s\nwant\n%s", got, want)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("an existing file's mode changed to %v", got)
	}
}

// TestTornLineAtStart: a file left ending in a partial line (a crash during
// a write) gets a newline before the next batch.
func TestTornLineAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(`{"name":"transac`), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := newOutput(t, pathConf(path), testEnv(counters{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []sdk.Batch{batch1, batch2} {
		if err := j.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := readFile(t, path), `{"name":"transac`+"\n"+joinLines(lines1, lines2); got != want {
		t.Errorf("file holds\n%s\nwant\n%s", got, want)
	}
}

// flakyFile is a file whose writes and syncs fail when told to; a failing
// write still writes its first keep bytes, like a disk filling up.
type flakyFile struct {
	strings.Builder
	writeErr error
	keep     int
	syncErr  error
	syncs    int
}

func (f *flakyFile) Write(p []byte) (int, error) {
	if f.writeErr != nil {
		n := min(f.keep, len(p))
		f.Builder.Write(p[:n])
		return n, f.writeErr
	}
	return f.Builder.Write(p)
}

func (f *flakyFile) Sync() error {
	f.syncs++
	return f.syncErr
}

func (f *flakyFile) Close() error { return nil }

// TestFailedWrites: the error names the file and wraps the cause, a batch
// cut short is followed by a newline before its retry, and syncs happen
// only with fsync.
func TestFailedWrites(t *testing.T) {
	full := errors.New("no space left on device")
	tests := []struct {
		name     string
		fsync    bool
		keep     int // bytes of the failed write that reach the file
		syncErr  error
		wantErr  string
		wantFile string
		syncs    int
	}{
		{
			name: "cut in a line", fsync: true, keep: 10,
			wantErr:  "jsonfile: appending 2 events to PATH: no space left on device",
			wantFile: lines1[0][:10] + "\n" + joinLines(lines1),
			syncs:    1,
		},
		{
			name: "cut after a line", fsync: true, keep: len(lines1[0]) + 1,
			wantErr:  "jsonfile: appending 2 events to PATH: no space left on device",
			wantFile: lines1[0] + "\n" + joinLines(lines1),
			syncs:    1,
		},
		{
			name: "nothing written", fsync: false, keep: 0,
			wantErr:  "jsonfile: appending 2 events to PATH: no space left on device",
			wantFile: joinLines(lines1),
			syncs:    0,
		},
		{
			name: "sync fails", fsync: true, syncErr: errors.New("input/output error"),
			wantErr:  "jsonfile: syncing PATH: input/output error",
			wantFile: joinLines(lines1, lines1),
			syncs:    2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			conf := pathConf(path)
			if !tc.fsync {
				conf += "fsync = false\n"
			}
			c := counters{}
			j, err := newOutput(t, conf, testEnv(c))
			if err != nil {
				t.Fatal(err)
			}
			ff := &flakyFile{keep: tc.keep, syncErr: tc.syncErr}
			if tc.syncErr == nil {
				ff.writeErr = full
			}
			j.f.Close()
			j.f = ff

			err = j.Write(context.Background(), batch1)
			if want := strings.ReplaceAll(tc.wantErr, "PATH", path); err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
			if tc.syncErr == nil && !errors.Is(err, full) {
				t.Errorf("error %v does not wrap the cause", err)
			}
			ff.writeErr, ff.syncErr = nil, nil
			if err := j.Write(context.Background(), batch1); err != nil { // the agent's retry
				t.Fatal(err)
			}
			if got := ff.String(); got != tc.wantFile {
				t.Errorf("file holds\n%s\nwant\n%s", got, tc.wantFile)
			}
			if got := c["bytes_written"].Load(); got != int64(len(tc.wantFile)) {
				t.Errorf("bytes_written = %d, want %d", got, len(tc.wantFile))
			}
			if ff.syncs != tc.syncs {
				t.Errorf("%d syncs, want %d", ff.syncs, tc.syncs)
			}
		})
	}
}

func TestWriteAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j, err := newOutput(t, pathConf(path), testEnv(counters{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Write(context.Background(), batch1); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	err = j.Write(context.Background(), batch2)
	if want := "jsonfile: write to " + path + " after Close"; err == nil || err.Error() != want {
		t.Errorf("Write after Close: error %v, want %q", err, want)
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got, want := readFile(t, path), joinLines(lines1); got != want {
		t.Errorf("file holds\n%s\nwant\n%s", got, want)
	}
}

func TestWriteBeforeInit(t *testing.T) {
	err := New().Write(context.Background(), batch1)
	if want := "jsonfile: Write called before a successful Init"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestDevice: a path that is not a regular file is written but not synced,
// which such files do not support.
func TestDevice(t *testing.T) {
	j, err := newOutput(t, `path = "/dev/null"`, testEnv(counters{}))
	if err != nil {
		t.Fatal(err)
	}
	if !j.Fsync || j.syncs {
		t.Errorf("fsync %v, syncing %v: want fsync on by default and off for a device", j.Fsync, j.syncs)
	}
	if err := j.Write(context.Background(), batch1); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentWrites: each batch is one write, so lines never mix.
func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j, err := newOutput(t, pathConf(path), testEnv(counters{}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := j.Write(context.Background(), batch1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, want := readFile(t, path), strings.Repeat(joinLines(lines1), 8); got != want {
		t.Errorf("file holds\n%s\nwant 8 copies of the batch", got)
	}
}

func TestDefaults(t *testing.T) {
	j := Registration.New().(*JSONFile)
	if j.Path != "" || !j.Fsync || j.Mode != "0644" {
		t.Errorf("New() = path %q, fsync %v, mode %q; want no path, fsync, 0644", j.Path, j.Fsync, j.Mode)
	}
}

// TestSampleConfig: the embedded sample is the agent-side declaration, and
// its config table is exactly what the plugin accepts.
func TestSampleConfig(t *testing.T) {
	if Registration.SampleConfig != sampleConfig || !strings.HasPrefix(sampleConfig, "# "+Registration.Description+"\n") {
		t.Errorf("sample.conf does not start with the description line:\n%s", sampleConfig)
	}
	var conf struct {
		Outputs struct {
			External []struct {
				Command []string       `toml:"command"`
				Config  toml.Primitive `toml:"config"`
			} `toml:"external"`
		} `toml:"outputs"`
	}
	md, err := toml.Decode(sampleConfig, &conf)
	if err != nil {
		t.Fatalf("sample.conf: %v", err)
	}
	if len(conf.Outputs.External) != 1 {
		t.Fatalf("sample.conf has %d [[outputs.external]] tables, want 1", len(conf.Outputs.External))
	}
	ext := conf.Outputs.External[0]
	if want := []string{"./bin/plugins/jsonfile"}; !reflect.DeepEqual(ext.Command, want) {
		t.Errorf("command = %q, want %q", ext.Command, want)
	}
	j := Registration.New().(*JSONFile)
	if err := md.PrimitiveDecode(ext.Config, j); err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Errorf("sample.conf has keys the plugin does not know: %v", und)
	}
	// The sample shows the defaults, so that a user sees what leaving a key
	// out means.
	if d := New(); j.Fsync != d.Fsync || j.Mode != d.Mode || j.Path != "/var/lib/rowflux/events.jsonl" {
		t.Errorf("sample config %+v", j)
	}
	j.Path = filepath.Join(t.TempDir(), "events.jsonl")
	if err := j.Init(testEnv(counters{})); err != nil {
		t.Fatalf("Init with the sample config: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}
