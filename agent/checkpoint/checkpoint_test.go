package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(s.Path(), tc.data, 0o600); err != nil {
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
