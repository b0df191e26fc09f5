// Package oracle is the Oracle capture input (sijms/go-ora/v2): strategies
// polling, trigger, commit_order (ORA_ROWSCN) and notify (Continuous Query
// Notification through a PL/SQL handler and DBMS_ALERT).
package oracle

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sijms/go-ora/v2/configurations"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

//go:embed sample.conf
var sampleConfig string

// Oracle captures row changes from an Oracle database.
type Oracle struct {
	DSN string `toml:"dsn"`
	// BoundByOpenTransactions lowers polling's upper bound to the start of
	// the oldest open transaction (GV$TRANSACTION). Default true.
	BoundByOpenTransactions *bool `toml:"bound_by_open_transactions"`
	// CQNMode is "object" (any change to a registered table) or "query"
	// (only changes to the result of SELECT ... WHERE <where>).
	CQNMode string `toml:"cqn_mode"`
	// LegacyPagination pages with ROWNUM instead of FETCH FIRST (11g).
	LegacyPagination bool `toml:"legacy_pagination"`
	capture.Config

	capture.Input
	src *source
}

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{
		Name:         "oracle",
		Description:  "Capture row changes from Oracle (polling, trigger, commit_order/rowscn, notify/cqn)",
		SampleConfig: sampleConfig,
		New:          func() sdk.Input { return &Oracle{Config: capture.DefaultConfig(), CQNMode: "object"} },
	})
}

// Init validates the configuration; it does not connect.
func (o *Oracle) Init(env sdk.Env) error {
	src, err := o.newSource(env)
	if err != nil {
		return err
	}
	if err := o.Start(&o.Config, src, env); err != nil {
		return err
	}
	o.src = src
	return nil
}

// newSource checks the Oracle-specific keys and builds the dialect.
func (o *Oracle) newSource(env sdk.Env) (*source, error) {
	if o.DSN == "" {
		return nil, errors.New("dsn: required (oracle://USER:PASSWORD@HOST:PORT/SERVICE)")
	}
	user, pw, err := parseDSN(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	st, err := capture.ParseStrategy(o.Strategy)
	if err != nil {
		return nil, fmt.Errorf("strategy: %w", err)
	}
	if o.CQNMode != "object" && o.CQNMode != "query" {
		return nil, fmt.Errorf("cqn_mode: must be \"object\" or \"query\", got %q", o.CQNMode)
	}
	names := map[string]string{}
	for i, t := range o.Tables {
		// Trigger objects are named after the table, not its schema.
		if _, name, err := capture.SplitTable(t.Name); err == nil && st == capture.Trigger {
			if other, dup := names[fold(name)]; dup {
				return nil, fmt.Errorf("tables[%d] (%s).name: the trigger strategy names its changelog and trigger after the table, and %s has the same name; capture them in two inputs with different changelog_table settings", i, t.Name, other)
			}
			names[fold(name)] = t.Name
		}
		if t.Where == "" {
			continue
		}
		if st != capture.Notify || o.CQNMode != "query" {
			return nil, fmt.Errorf("tables[%d] (%s).where: only used by strategy = \"cqn\" with cqn_mode = \"query\"", i, t.Name)
		}
		if err := validWhere(t.Where); err != nil {
			return nil, fmt.Errorf("tables[%d] (%s).where: %w", i, t.Name, err)
		}
	}
	echo := env.Echo
	if echo == nil {
		echo = func(sdk.Statement) {}
	}
	return &source{
		dsn:       withPrefetch(o.DSN),
		user:      user,
		password:  pw,
		strategy:  st,
		bounded:   o.BoundByOpenTransactions == nil || *o.BoundByOpenTransactions,
		legacy:    o.LegacyPagination,
		cqnMode:   o.CQNMode,
		changelog: o.ChangelogTable,
		echo:      echo,
		test:      env.Test,
	}, nil
}

// parseDSN checks the DSN with the driver's own parser and returns the
// user (for the GRANTs doctor prints) and the password (to redact).
func parseDSN(dsn string) (user, password string, err error) {
	u, perr := url.Parse(dsn)
	if perr == nil && u.User != nil {
		password, _ = u.User.Password()
	}
	if perr != nil || u.Scheme != "oracle" {
		return "", "", errors.New("want oracle://USER:PASSWORD@HOST:PORT/SERVICE")
	}
	cfg, err := configurations.ParseConfig(dsn)
	if err != nil {
		return "", "", redact(password, err)
	}
	if cfg.UserID == "" {
		return "", "", errors.New("no user (want oracle://USER:PASSWORD@HOST:PORT/SERVICE)")
	}
	if strings.EqualFold(cfg.UserID, "SYS") {
		// SYS connects AS SYSDBA, cannot register change notifications and
		// must not own capture objects.
		return "", "", errors.New("connect as a dedicated capture user, not SYS")
	}
	if cfg.ServiceName == "" {
		return "", "", errors.New("no service name (want oracle://USER:PASSWORD@HOST:PORT/SERVICE)")
	}
	return cfg.UserID, password, nil
}

// withPrefetch raises the driver's rows per round trip (25 by default) for
// delta fetches, unless the DSN sets it.
func withPrefetch(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "PREFETCH_ROWS") {
			return dsn
		}
	}
	q.Set("PREFETCH_ROWS", "1000")
	u.RawQuery = q.Encode()
	return u.String()
}

// TableOptions: decimal keeps NUMBER text exact; where is cqn query mode's.
func (s *source) TableOptions() []string { return []string{"decimal", "where"} }

// Plan lists, without connecting, what setup, teardown or doctor would
// send: the tables' names are taken as Oracle stores unquoted names (upper
// case), and unqualified tables are in the connecting user's schema.
func (o *Oracle) Plan(action string) (string, error) {
	if o.src == nil {
		return "", errors.New("not initialised")
	}
	tables, err := configTables(o.Tables)
	if err != nil {
		return "", err
	}
	return o.src.plan(action, tables)
}

// configTables builds tables from configuration alone, for plans made
// without a connection.
func configTables(tcs []capture.TableConfig) ([]*capture.Table, error) {
	var out []*capture.Table
	for _, tc := range tcs {
		schema, name, err := capture.SplitTable(tc.Name)
		if err != nil {
			return nil, err
		}
		t := &capture.Table{Config: tc, Schema: fold(schema), Name: fold(name), EventName: strings.ToLower(name), TSIdx: -1}
		for _, k := range tc.Key {
			t.KeyIdx = append(t.KeyIdx, len(t.Columns))
			t.Columns = append(t.Columns, capture.Column{Name: fold(k), Out: strings.ToLower(k)})
		}
		if tc.TimestampColumn != "" {
			t.TSIdx = len(t.Columns)
			t.Columns = append(t.Columns, capture.Column{Name: fold(tc.TimestampColumn), Out: strings.ToLower(tc.TimestampColumn)})
		}
		out = append(out, t)
	}
	return out, nil
}
