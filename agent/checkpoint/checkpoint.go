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
}

// Open prepares a store in dir, creating the directory if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
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

// Save replaces the checkpoint atomically and durably. On error the previous
// checkpoint is left in place and no temporary file remains.
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

	tmp, err := os.CreateTemp(s.dir, FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write checkpoint %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync checkpoint %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close checkpoint %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("replace checkpoint %s: %w", s.Path(), err)
	}
	ok = true
	// The rename is durable only once the directory entry is.
	dir, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("open state_dir for fsync: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("fsync state_dir %s: %w", s.dir, err)
	}
	return nil
}

// Reset removes the checkpoint file (and stray temporary files), so the next
// start begins from scratch.
func (s *Store) Reset() error {
	if err := os.Remove(s.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reset state: %w", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(s.dir, FileName+".tmp-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
	return nil
}
