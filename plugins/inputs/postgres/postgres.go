// Package postgres is the PostgreSQL capture input (jackc/pgx): strategies
// polling, trigger, commit_order (xmin) and notify (LISTEN/NOTIFY).
package postgres

import (
	_ "embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

//go:embed sample.conf
var sampleConfig string

// Postgres captures row changes from a PostgreSQL database.
type Postgres struct {
	DSN string `toml:"dsn"`
	// BoundByOpenTransactions lowers polling's upper bound to the start of
	// the oldest open transaction (needs pg_read_all_stats). Default true.
	BoundByOpenTransactions *bool `toml:"bound_by_open_transactions"`
	capture.Config

	capture.Input
	src *source
}

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{
		Name:         "postgres",
		Description:  "Capture row changes from PostgreSQL (polling, trigger, commit_order/xmin, notify)",
		SampleConfig: sampleConfig,
		New:          func() sdk.Input { return &Postgres{Config: capture.DefaultConfig()} },
	})
}

// Init validates the configuration; it does not connect.
func (p *Postgres) Init(env sdk.Env) error {
	if p.DSN == "" {
		return errors.New("dsn: required (postgres://user@host:5432/db?sslmode=disable)")
	}
	pw := dsnPassword(p.DSN)
	if _, err := pgconn.ParseConfig(p.DSN); err != nil {
		return fmt.Errorf("dsn: %w", redact(pw, err))
	}
	bounded := p.BoundByOpenTransactions == nil || *p.BoundByOpenTransactions
	st, _ := capture.ParseStrategy(p.Strategy) // NewEngine reports a bad one
	src := &source{dsn: p.DSN, password: pw, schema: "public", changelog: p.ChangelogTable, listen: st == capture.Notify, bounded: bounded}
	// The changelog and the trigger functions live in the first table's schema.
	if len(p.Tables) > 0 {
		if schema, _, err := capture.SplitTable(p.Tables[0].Name); err == nil && schema != "" {
			src.schema = schema
		}
	}
	if err := p.Start(&p.Config, newNamedSource(src), env); err != nil {
		return err
	}
	if err := checkIdentLengths(&p.Config); err != nil {
		return err
	}
	p.src = src
	return nil
}

// maxIdentBytes is PostgreSQL's identifier length (NAMEDATALEN - 1).
const maxIdentBytes = 63

// checkIdentLengths refuses identifiers PostgreSQL would truncate. A longer
// quoted name does not fail: it silently names the object of its first 63
// bytes, which need not be the one configured. Errors name the key as
// capture.Config.Validate does (it has checked everything else).
func checkIdentLengths(c *capture.Config) error {
	long := func(s string) error {
		if len(s) > maxIdentBytes {
			return fmt.Errorf("identifier %q is %d bytes long; PostgreSQL identifiers are at most %d", s, len(s), maxIdentBytes)
		}
		return nil
	}
	if err := long(c.ChangelogTable); err != nil {
		return fmt.Errorf("changelog_table: %w", err)
	}
	for i, t := range c.Tables {
		schema, table, _ := capture.SplitTable(t.Name)
		for _, n := range []string{schema, table} {
			if err := long(n); err != nil {
				return fmt.Errorf("tables[%d].name: %w", i, err)
			}
		}
		for _, l := range []struct {
			key  string
			cols []string
		}{{"key", t.Key}, {"columns", t.Columns}, {"tags", t.Tags}, {"timestamp_column", []string{t.TimestampColumn}}} {
			for _, col := range l.cols {
				if err := long(col); err != nil {
					return fmt.Errorf("tables[%d] (%s).%s: %w", i, t.Name, l.key, err)
				}
			}
		}
	}
	return nil
}
