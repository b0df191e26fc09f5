// Command jsonfile is an example third-party output served out of process:
// it appends each batch to a file as JSON lines.
//
// Everything the plugin does is in this file and written against packages
// sdk and sdk/encoding only; main.go just serves Registration. A custom
// build of the agent could compile the same code in with
// sdk.RegisterOutput(Registration).
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/encoding"
)

//go:embed sample.conf
var sampleConfig string

// Registration describes the plugin, whether it is served by main or
// registered in a compiled-in build.
var Registration = sdk.Registration[sdk.Output]{
	Name:         "jsonfile",
	Description:  "Append each batch to a file as JSON lines",
	SampleConfig: sampleConfig,
	New:          func() sdk.Output { return New() },
}

// maxKeptBuffer is the largest buffer kept between writes, so that one huge
// batch does not pin its memory for the life of the plugin.
const maxKeptBuffer = 16 << 20

// file is what JSONFile needs of an *os.File; tests stand in a file that
// fails part way.
type file interface {
	io.Writer
	Sync() error
	Close() error
}

// JSONFile is the output. Create it with New, decode the configuration into
// it, then call Init before Write.
type JSONFile struct {
	// Path is the file appended to.
	Path string `toml:"path"`
	// Fsync makes each Write wait until the batch is on disk.
	Fsync bool `toml:"fsync"`
	// Mode is the octal permission a new file is created with.
	Mode string `toml:"mode"`

	// mu serialises writes: the encoder and buffer are reused, and a
	// compiled-in output may see a flush at a checkpoint barrier race a
	// timed one.
	mu     sync.Mutex
	f      file // nil before Init and after Close
	closed bool
	syncs  bool
	enc    encoding.Encoder
	buf    []byte
	// torn is set while the file ends in a partial line (a write that
	// failed part way, or a crash during one): the next write starts with a
	// newline, so that the partial line cannot swallow the first line of
	// the retried batch.
	torn    bool
	written *sdk.Counter
}

var (
	_ sdk.Output      = (*JSONFile)(nil)
	_ sdk.Initializer = (*JSONFile)(nil)
	_ sdk.Closer      = (*JSONFile)(nil)
)

// New returns an output with the defaults set; path has none, so it must
// be configured.
func New() *JSONFile {
	return &JSONFile{Fsync: true, Mode: "0644"}
}

// Init validates the configuration and opens the file.
func (j *JSONFile) Init(env sdk.Env) error {
	if j.Path == "" {
		return errors.New("path: required")
	}
	perm, err := strconv.ParseUint(j.Mode, 8, 32)
	if err != nil || perm > 0o777 {
		return fmt.Errorf("mode: %q is not an octal permission between \"0000\" and \"0777\", such as \"0644\"", j.Mode)
	}
	enc, err := encoding.New(encoding.FormatJSON)
	if err != nil {
		return fmt.Errorf("json encoder: %w", err)
	}
	_, statErr := os.Stat(j.Path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(j.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, fs.FileMode(perm))
	if err != nil {
		dir := filepath.Dir(j.Path)
		if _, derr := os.Stat(dir); errors.Is(derr, fs.ErrNotExist) {
			return fmt.Errorf("path: directory %s does not exist (jsonfile does not create directories): %w", dir, err)
		}
		return fmt.Errorf("path: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("path: %w", err)
	}
	// A device or pipe (path = "/dev/stdout") cannot be synced, and has no
	// end to inspect.
	regular := info.Mode().IsRegular()
	if regular && info.Size() > 0 {
		j.torn = !endsInNewline(j.Path, info.Size())
	}
	if created && j.Fsync && regular {
		// The file's directory entry is not on disk until its directory is
		// synced; without it a crash could lose the file and every synced
		// batch in it.
		if err := syncDir(filepath.Dir(j.Path)); err != nil {
			f.Close()
			return fmt.Errorf("path: %w", err)
		}
	}
	j.f, j.closed = f, false
	j.syncs = j.Fsync && regular
	j.enc = enc
	j.written = counter(env, "bytes_written", "bytes appended to the file")
	return nil
}

// endsInNewline reports whether the file's last byte is a newline. A file
// it cannot read is assumed whole: appending is what matters.
func endsInNewline(path string, size int64) bool {
	r, err := os.Open(path)
	if err != nil {
		return true
	}
	defer r.Close()
	var b [1]byte
	if _, err := r.ReadAt(b[:], size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing the new file's directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the new file's directory: %w", err)
	}
	return nil
}

// counter copes with an Env without counters, as tools embedding the
// plugin may give it.
func counter(env sdk.Env, name, help string) *sdk.Counter {
	if env.Counter != nil {
		if c := env.Counter(name, help); c != nil {
			return c
		}
	}
	return new(sdk.Counter)
}

// Write appends the batch with a single write call, so that its lines are
// never interleaved with another writer's, then syncs the file when fsync
// is set: the agent acknowledges a checkpoint once Write returns, so a
// batch it counts as delivered must survive a crash.
func (j *JSONFile) Write(_ context.Context, batch sdk.Batch) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		if j.closed {
			return fmt.Errorf("jsonfile: write to %s after Close", j.Path)
		}
		return errors.New("jsonfile: Write called before a successful Init")
	}
	if len(batch) == 0 {
		return nil
	}
	buf := j.buf[:0]
	if j.torn {
		buf = append(buf, '\n')
	}
	// The JSON encoder represents every event, so nothing is ever skipped.
	out, _ := j.enc.Encode(buf, batch)
	if cap(out) <= maxKeptBuffer {
		j.buf = out[:0]
	} else {
		j.buf = nil
	}
	n, err := j.f.Write(out)
	if n > 0 {
		j.written.Add(int64(n))
	}
	if err != nil {
		if n > 0 {
			j.torn = out[n-1] != '\n'
		}
		return fmt.Errorf("jsonfile: appending %d events to %s: %w", len(batch), j.Path, err)
	}
	j.torn = false
	if j.syncs {
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("jsonfile: syncing %s: %w", j.Path, err)
		}
	}
	return nil
}

// Close closes the file; later writes fail. It is safe to call more than
// once, and after a failed Init.
func (j *JSONFile) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	if j.f == nil {
		return nil
	}
	f := j.f
	j.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("jsonfile: closing %s: %w", j.Path, err)
	}
	return nil
}
