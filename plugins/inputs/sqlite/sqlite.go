// Package sqlite is the embedded SQLite capture input (modernc.org/sqlite,
// pure Go): strategies polling, trigger and notify.
package sqlite

import (
	_ "embed"
	"errors"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

//go:embed sample.conf
var sampleConfig string

// SQLite captures row changes from a SQLite database file.
type SQLite struct {
	Path string `toml:"path"`
	// NotifyCheckInterval is how often the notify strategy asks SQLite
	// whether another connection committed (PRAGMA data_version, ~6 µs).
	NotifyCheckInterval sdk.Duration `toml:"notify_check_interval"`
	capture.Config

	capture.Input
}

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{
		Name:         "sqlite",
		Description:  "Capture row changes from a SQLite database (polling, trigger, notify)",
		SampleConfig: sampleConfig,
		New: func() sdk.Input {
			return &SQLite{NotifyCheckInterval: sdk.Duration(10 * time.Millisecond), Config: capture.DefaultConfig()}
		},
	})
}

// Init validates the configuration; it does not open the database.
func (s *SQLite) Init(env sdk.Env) error {
	if s.Path == "" {
		return errors.New("path: required (the SQLite database file)")
	}
	if s.NotifyCheckInterval <= 0 {
		return errors.New("notify_check_interval: must be greater than 0")
	}
	src := &source{path: s.Path, changelog: s.ChangelogTable, checkEvery: time.Duration(s.NotifyCheckInterval)}
	return s.Start(&s.Config, src, env)
}
