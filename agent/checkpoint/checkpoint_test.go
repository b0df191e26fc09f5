package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sample() *State {
	return &State{
		ID:         7,
		Time:       time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC),
		Inputs:     map[string][]byte{"inputs.generate": []byte(`{"next":42}`)},
		Processors: map[string][]byte{"processors.window": {0, 1, 2, 255}},
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "nested", "state"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := s.Load(); err != nil || st != nil {
		t.Fatalf("empty store: got %v, %v; want nil, nil", st, err)
	}
	want := sample()
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	want.ID = 8
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: got %+v, want %+v", got, want)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(s.Path()), "*.tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

func TestLoadRefusesDamagedFiles(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"truncated", good[:len(good)/2], "not a valid checkpoint"},
		{"tampered", []byte(strings.Replace(string(good), `"id":7`, `"id":9`, 1)), "checksum mismatch"},
		{"newer version", []byte(strings.Replace(string(good), `"version":1`, `"version":2`, 1)), "state version 2, this agent reads version 1"},
		{"foreign file", []byte(`{"hello":"world"}`), `unknown format ""`},
		{"empty", nil, "not a valid checkpoint"},
		{"one byte", good[:1], "not a valid checkpoint"},
		{"all but the closing brace", good[:len(good)-2], "not a valid checkpoint"},
		{"checksum edited", []byte(strings.Replace(string(good), `"sha256":"`, `"sha256":"0`, 1)), "checksum mismatch"},
		{"directory", nil, "it is a directory, not a file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(s.Path())
			if tc.name == "directory" {
				if err := os.Mkdir(s.Path(), 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(s.Path(), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load()
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a CorruptError", err)
			}
			msg := err.Error()
			for _, want := range []string{s.Path(), tc.reason, "--reset-state"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

func TestResetRemovesCheckpoint(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path()+".tmp-123", []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Load(); err != nil || st != nil {
		t.Fatalf("after reset: got %v, %v", st, err)
	}
	if err := s.Reset(); err != nil {
		t.Fatalf("reset twice: %v", err)
	}
}

func TestSaveIntoUnwritableDirKeepsPrevious(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions; use a path that cannot be a directory instead.
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(sample()); err != nil {
			t.Fatal(err)
		}
		s.dir = filepath.Join(s.dir, FileName) // a file, not a directory
		if err := s.Save(sample()); err == nil {
			t.Fatal("save into a non-directory succeeded")
		}
		return
	}
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	next := sample()
	next.ID = 99
	if err := s.Save(next); err == nil {
		t.Fatal("save into read-only dir succeeded")
	}
	got, err := s.Load()
	if err != nil || got.ID != 7 {
		t.Fatalf("previous checkpoint not intact: %+v, %v", got, err)
	}
}

// TestLoadAcceptsAWholeCheckpointWithoutItsNewline: the newline after the
// document is not part of the checkpoint. A file that lost only that byte
// holds the whole, checksummed checkpoint, and refusing it would send the
// operator to --reset-state, replaying every input from its beginning.
func TestLoadAcceptsAWholeCheckpointWithoutItsNewline(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(good), "}\n") {
		t.Fatalf("the file does not end with the document and a newline: %q", good[len(good)-5:])
	}
	if err := os.WriteFile(s.Path(), good[:len(good)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil || !reflect.DeepEqual(got, sample()) {
		t.Fatalf("got %+v, %v; want the saved checkpoint", got, err)
	}
}

func TestResetClearsAnEmptyDirectoryButNotAFullOne(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(); err != nil {
		t.Fatalf("reset of an empty directory in the file's place: %v", err)
	}
	if st, err := s.Load(); err != nil || st != nil {
		t.Fatalf("after reset: %v, %v", st, err)
	}
	keep := filepath.Join(s.Path(), "someone's file")
	if err := os.MkdirAll(s.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.Reset()
	if err == nil || !strings.Contains(err.Error(), s.Path()) || !strings.Contains(err.Error(), "move the directory away") {
		t.Fatalf("reset of a directory holding a file: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("reset removed what the directory held: %v", err)
	}
}

// faultyFS fails one step of Save with an operating system error, as a full
// or read-only disk does, and otherwise does what the real one does.
type faultyFS struct {
	step     string // create, write, short write, fsync, close, rename, fsync dir, remove
	errno    syscall.Errno
	failRemv bool
}

func (f *faultyFS) pathErr(op, path string) error {
	return &fs.PathError{Op: op, Path: path, Err: f.errno}
}

func (f *faultyFS) CreateTemp(dir, pattern string) (tempFile, error) {
	if f.step == "create" {
		return nil, f.pathErr("open", filepath.Join(dir, pattern))
	}
	t, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: t, fs: f}, nil
}

func (f *faultyFS) Rename(from, to string) error {
	if f.step == "rename" {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: f.errno}
	}
	return os.Rename(from, to)
}

func (f *faultyFS) Remove(name string) error {
	if f.failRemv {
		return f.pathErr("remove", name)
	}
	return os.Remove(name)
}

func (f *faultyFS) SyncDir(dir string) error {
	if f.step == "fsync dir" {
		return f.pathErr("sync", dir)
	}
	return osFS{}.SyncDir(dir)
}

type faultyFile struct {
	*os.File
	fs *faultyFS
}

func (t *faultyFile) Write(p []byte) (int, error) {
	switch t.fs.step {
	case "write":
		return 0, t.fs.pathErr("write", t.Name())
	case "short write":
		// A disk that fills up during the write keeps what fitted.
		n, _ := t.File.Write(p[:len(p)/2])
		return n, t.fs.pathErr("write", t.Name())
	}
	return t.File.Write(p)
}

func (t *faultyFile) Sync() error {
	if t.fs.step == "fsync" {
		return t.fs.pathErr("sync", t.Name())
	}
	return t.File.Sync()
}

func (t *faultyFile) Close() error {
	if t.fs.step == "close" {
		t.File.Close()
		return t.fs.pathErr("close", t.Name())
	}
	return t.File.Close()
}

// TestSaveFailureKeepsPreviousCheckpointAndNoTemporaryFile fails each step
// of a write the way a full (ENOSPC) or read-only (EROFS) disk does: the
// error names the checkpoint or the state directory and the system's
// reason, the same text at every attempt (no random temporary name), and
// the directory holds the previous checkpoint and nothing else.
func TestSaveFailureKeepsPreviousCheckpointAndNoTemporaryFile(t *testing.T) {
	cases := []struct {
		step  string
		errno syscall.Errno
		names string // what the message names: "file" (the checkpoint) or "dir"
		newer bool   // the new checkpoint is in place (only its durability failed)
	}{
		{"create", syscall.EROFS, "dir", false},
		{"create", syscall.ENOSPC, "dir", false},
		{"write", syscall.ENOSPC, "file", false},
		{"short write", syscall.ENOSPC, "file", false},
		{"fsync", syscall.EIO, "file", false},
		{"close", syscall.ENOSPC, "file", false},
		{"rename", syscall.EROFS, "file", false},
		{"fsync dir", syscall.EIO, "dir", true},
	}
	for _, tc := range cases {
		t.Run(tc.step+" "+tc.errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(sample()); err != nil {
				t.Fatal(err)
			}
			s.fs = &faultyFS{step: tc.step, errno: tc.errno}
			next := sample()
			next.ID = 8
			var msgs []string
			for range 2 {
				err := s.Save(next)
				if !errors.Is(err, tc.errno) {
					t.Fatalf("got %v, want an error wrapping %v", err, tc.errno)
				}
				msgs = append(msgs, err.Error())
			}
			want := map[string]string{"file": s.Path(), "dir": dir}[tc.names]
			if !strings.Contains(msgs[0], want) || !strings.Contains(msgs[0], tc.errno.Error()) || strings.Contains(msgs[0], ".tmp-") {
				t.Errorf("error %q: want it to name %s and say %q, without the temporary file's name", msgs[0], want, tc.errno)
			}
			if msgs[0] != msgs[1] {
				t.Errorf("the same fault reads differently at two attempts:\n%s\n%s", msgs[0], msgs[1])
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 1 || ents[0].Name() != FileName {
				t.Errorf("state_dir holds %v, want only %s", ents, FileName)
			}
			got, err := s.Load()
			wantID := uint64(7)
			if tc.newer {
				wantID = 8
			}
			if err != nil || got.ID != wantID {
				t.Fatalf("after the failed save: %+v, %v; want checkpoint %d, whole", got, err, wantID)
			}
		})
	}
}

// TestTemporaryFileThatCannotBeRemovedIsNamedAndCleanedLater: when even the
// removal of the temporary file fails, the error names it, and
// RemoveTemps (which the agent calls at its next start) clears it.
func TestTemporaryFileThatCannotBeRemovedIsNamedAndCleanedLater(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.fs = &faultyFS{step: "write", errno: syscall.ENOSPC, failRemv: true}
	err = s.Save(sample())
	tmps, _ := filepath.Glob(filepath.Join(dir, FileName+".tmp-*"))
	if len(tmps) != 1 || err == nil || !strings.Contains(err.Error(), tmps[0]) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v; temporary files %v", err, tmps)
	}
	removed, err := s.RemoveTemps()
	if err != nil || len(removed) != 1 || removed[0] != tmps[0] {
		t.Fatalf("RemoveTemps: %v, %v", removed, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
