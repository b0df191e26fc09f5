// Package checkpoint stores the agent's durable checkpoint: the resume
// position of every input and the state of every stateful processor.
//
// The file is replaced atomically (write a temporary file, fsync, rename,
// fsync the directory), so a crash at any moment leaves either the previous
// checkpoint or the new one, never a mix. It carries a format version and a
// SHA-256 checksum of its payload, so a truncated or edited file is refused
// with a message that names it, instead of silently restarting from scratch.
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// FileName is the checkpoint file inside the state directory.
const FileName = "checkpoint.json"

// Version is the payload format this agent writes and reads.
const Version = 1

const formatName = "rowflux-checkpoint"

// State is one durable checkpoint.
type State struct {
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	// Inputs maps an input instance ID to its opaque position.
	Inputs map[string][]byte `json:"inputs"`
	// Processors maps a processor instance ID to its serialised state.
	Processors map[string][]byte `json:"processors"`
}

// Store reads and writes the checkpoint file of one state directory.
type Store struct {
	dir string
	fs  fileSystem
}

// fileSystem is what Save needs from the operating system. Tests replace it
// to fail each step the way a full or read-only disk does.
type fileSystem interface {
	CreateTemp(dir, pattern string) (tempFile, error)
	Rename(from, to string) error
	Remove(name string) error
	SyncDir(dir string) error
}

type tempFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
	Name() string
}

type osFS struct{}

func (osFS) CreateTemp(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }
func (osFS) Rename(from, to string) error                     { return os.Rename(from, to) }
func (osFS) Remove(name string) error                         { return os.Remove(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open prepares a store in dir, creating the directory if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	return &Store{dir: dir, fs: osFS{}}, nil
}

// Path is the checkpoint file's path.
func (s *Store) Path() string { return filepath.Join(s.dir, FileName) }

// CorruptError says the checkpoint file cannot be trusted.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("checkpoint file %s cannot be used (%s); start the agent with --reset-state to discard it and start every input from its configured beginning", e.Path, e.Reason)
}

type envelope struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	SHA256  string          `json:"sha256"`
	Payload json.RawMessage `json:"payload"`
}

// Load returns the stored checkpoint, or nil when there is none yet.
func (s *Store) Load() (*State, error) {
	path := s.Path()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		// Something that is not a file can only be cleared by hand or by
		// --reset-state; say so rather than report a read error.
		if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
			reason := fmt.Sprintf("it is a %s, not a file", kind(fi.Mode()))
			if fi.IsDir() {
				reason += "; --reset-state removes it only when it is empty"
			}
			return nil, &CorruptError{Path: path, Reason: reason}
		}
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, &CorruptError{Path: path, Reason: "not a valid checkpoint: " + err.Error()}
	}
	if env.Format != formatName {
		return nil, &CorruptError{Path: path, Reason: fmt.Sprintf("unknown format %q", env.Format)}
	}
	if env.Version != Version {
		return nil, &CorruptError{Path: path, Reason: fmt.Sprintf("state version %d, this agent reads version %d", env.Version, Version)}
	}
	sum := sha256.Sum256(env.Payload)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, &CorruptError{Path: path, Reason: "checksum mismatch: the file was truncated or modified"}
	}
	var st State
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		return nil, &CorruptError{Path: path, Reason: "bad payload: " + err.Error()}
	}
	return &st, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// Save replaces the checkpoint atomically and durably. On error the previous
// checkpoint is left in place and no temporary file remains.
//
// Errors name the checkpoint or the state directory and the operating
// system's reason, not the random temporary file: the same fault (a full or
// read-only disk) then reads the same at every attempt, and the caller can
// tell a continuing outage from a new cause.
func (s *Store) Save(st *State) error {
	payload, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	sum := sha256.Sum256(payload)
	var buf bytes.Buffer
	buf.Grow(len(payload) + 160)
	fmt.Fprintf(&buf, `{"format":%q,"version":%d,"sha256":%q,"payload":`, formatName, Version, hex.EncodeToString(sum[:]))
	buf.Write(payload)
	buf.WriteString("}\n")

	tmp, err := s.fs.CreateTemp(s.dir, FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("create a temporary checkpoint file in state_dir %s: %w", s.dir, osReason(err))
	}
	fail := func(step string, err error) error {
		err = fmt.Errorf("%s checkpoint %s: %w", step, s.Path(), osReason(err))
		tmp.Close()
		if rerr := s.fs.Remove(tmp.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return fmt.Errorf("%w; the temporary file %s could not be removed: %v", err, tmp.Name(), osReason(rerr))
		}
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fail("write", err)
	}
	if err := tmp.Sync(); err != nil {
		return fail("fsync", err)
	}
	if err := tmp.Close(); err != nil {
		return fail("close", err)
	}
	if err := s.fs.Rename(tmp.Name(), s.Path()); err != nil {
		return fail("replace", err)
	}
	// The rename is durable only once the directory entry is. If this
	// fails the new file is in place but maybe not on disk: the caller
	// must not treat the checkpoint as durable, and the next one retries.
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("fsync state_dir %s: %w", s.dir, osReason(err))
	}
	return nil
}

// osReason drops the path from an operating system error: the callers name
// the checkpoint instead of the random temporary file.
func osReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// RemoveTemps removes temporary files left by a write that a crash
// interrupted, and returns their names. They are never read, but they take
// space in the state directory until removed.
func (s *Store) RemoveTemps() ([]string, error) {
	tmps, err := filepath.Glob(filepath.Join(s.dir, FileName+".tmp-*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, t := range tmps {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("remove the temporary checkpoint file %s: %w", t, osReason(err))
		}
		removed = append(removed, t)
	}
	return removed, nil
}

// Reset removes the checkpoint file (and stray temporary files), so the next
// start begins from scratch. An empty directory in the file's place goes
// too; anything holding more is left for the operator to move away.
func (s *Store) Reset() error {
	path := s.Path()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return fmt.Errorf("reset state: %s is a directory that is not empty; --reset-state removes only a checkpoint file, move the directory away", path)
		}
		return fmt.Errorf("reset state: %w", err)
	}
	if _, err := s.RemoveTemps(); err != nil {
		return fmt.Errorf("reset state: %w", err)
	}
	return nil
}
