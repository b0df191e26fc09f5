package capture

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// Strategy is a capture strategy.
type Strategy string

const (
	Polling     Strategy = "polling"
	Trigger     Strategy = "trigger"
	CommitOrder Strategy = "commit_order"
	Notify      Strategy = "notify"
)

// aliases are the database-specific names users know.
var aliases = map[string]Strategy{"rowscn": CommitOrder, "xmin": CommitOrder, "cqn": Notify}

// ParseStrategy resolves a strategy name or alias.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case Polling, Trigger, CommitOrder, Notify:
		return st, nil
	}
	if st, ok := aliases[s]; ok {
		return st, nil
	}
	return "", fmt.Errorf("unknown strategy %q (want polling, trigger, commit_order or notify; aliases rowscn, xmin, cqn)", s)
}

// Config holds the keys every capture input shares. Inputs embed it.
type Config struct {
	Strategy     string       `toml:"strategy"`
	PollInterval sdk.Duration `toml:"poll_interval"`
	BatchSize    int          `toml:"batch_size"`
	AutoSetup    bool         `toml:"auto_setup"`
	// Lag keeps polling this far behind the source's clock, for rows whose
	// timestamp is taken before their transaction commits.
	Lag            sdk.Duration  `toml:"lag"`
	ColumnCase     string        `toml:"column_case"`
	ChangelogTable string        `toml:"changelog_table"`
	Tables         []TableConfig `toml:"tables"`
}

// TableConfig is one captured table.
type TableConfig struct {
	Name            string   `toml:"name"`
	Key             []string `toml:"key"`
	Columns         []string `toml:"columns"`
	Tags            []string `toml:"tags"`
	TimestampColumn string   `toml:"timestamp_column"`
	AppendOnly      bool     `toml:"append_only"`
	// ColumnCase overrides the input's column_case for this table.
	ColumnCase string `toml:"column_case"`
	// Decimal = "string" keeps exact decimal text instead of int64/float64
	// (dialects with arbitrary-precision numbers: Oracle NUMBER).
	Decimal string `toml:"decimal"`
	// Where is the condition of a query-result registration (Oracle cqn
	// with cqn_mode = "query"): SQL run verbatim by setup.
	Where string `toml:"where"`
}

// DefaultConfig returns the defaults capture inputs start from.
func DefaultConfig() Config {
	return Config{
		Strategy:       string(Trigger),
		PollInterval:   sdk.Duration(time.Second),
		BatchSize:      5000,
		Lag:            sdk.Duration(time.Second),
		ColumnCase:     "lower",
		ChangelogTable: "rowflux_changelog",
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// ValidIdent checks an identifier from configuration. Only plain
// identifiers are accepted, so that quoting them is always enough to keep
// configuration out of the SQL text.
func ValidIdent(s string) error {
	if len(s) > 128 || !identRE.MatchString(s) {
		return fmt.Errorf("invalid identifier %q (letters, digits, _ and $ only, not starting with a digit, at most 128 characters)", s)
	}
	return nil
}

// SplitTable splits "schema.table" or "table" and validates both parts.
func SplitTable(name string) (schema, table string, err error) {
	parts := strings.Split(name, ".")
	switch len(parts) {
	case 1:
		table = parts[0]
	case 2:
		schema, table = parts[0], parts[1]
		if err := ValidIdent(schema); err != nil {
			return "", "", err
		}
	default:
		return "", "", fmt.Errorf("invalid table name %q (want table or schema.table)", name)
	}
	return schema, table, ValidIdent(table)
}

// Validate checks the configuration against the strategies a dialect
// supports; errors name the key.
func (c *Config) Validate(dialect string, supported []Strategy) (Strategy, error) {
	st, err := ParseStrategy(c.Strategy)
	if err != nil {
		return "", fmt.Errorf("strategy: %w", err)
	}
	if !slices.Contains(supported, st) {
		names := make([]string, len(supported))
		for i, s := range supported {
			names[i] = string(s)
		}
		return "", fmt.Errorf("strategy: %q is not supported by %s (supported: %s)", c.Strategy, dialect, strings.Join(names, ", "))
	}
	if c.PollInterval <= 0 {
		return "", errors.New("poll_interval: must be greater than 0")
	}
	if c.BatchSize < 1 {
		return "", errors.New("batch_size: must be at least 1")
	}
	if c.Lag < 0 {
		return "", errors.New("lag: must not be negative")
	}
	if err := validCase(c.ColumnCase); err != nil {
		return "", fmt.Errorf("column_case: %w", err)
	}
	if err := ValidIdent(c.ChangelogTable); err != nil {
		return "", fmt.Errorf("changelog_table: %w", err)
	}
	if len(c.Tables) == 0 {
		return "", errors.New("tables: at least one [[...tables]] entry is required")
	}
	seen := map[string]bool{}
	for i, t := range c.Tables {
		at := fmt.Sprintf("tables[%d]", i)
		if _, _, err := SplitTable(t.Name); err != nil {
			return "", fmt.Errorf("%s.name: %w", at, err)
		}
		if seen[strings.ToLower(t.Name)] {
			return "", fmt.Errorf("%s.name: table %q is listed twice", at, t.Name)
		}
		seen[strings.ToLower(t.Name)] = true
		if len(t.Key) == 0 {
			return "", fmt.Errorf("%s (%s).key: at least one key column is required", at, t.Name)
		}
		for _, l := range []struct {
			key  string
			cols []string
		}{{"key", t.Key}, {"columns", t.Columns}, {"tags", t.Tags}} {
			for _, col := range l.cols {
				if err := ValidIdent(col); err != nil {
					return "", fmt.Errorf("%s (%s).%s: %w", at, t.Name, l.key, err)
				}
			}
		}
		if t.TimestampColumn != "" {
			if err := ValidIdent(t.TimestampColumn); err != nil {
				return "", fmt.Errorf("%s (%s).timestamp_column: %w", at, t.Name, err)
			}
		} else if st == Polling {
			return "", fmt.Errorf("%s (%s).timestamp_column: required by the polling strategy", at, t.Name)
		}
		if t.ColumnCase != "" {
			if err := validCase(t.ColumnCase); err != nil {
				return "", fmt.Errorf("%s (%s).column_case: %w", at, t.Name, err)
			}
		}
		if t.Decimal != "" && t.Decimal != "string" && t.Decimal != "number" {
			return "", fmt.Errorf("%s (%s).decimal: must be \"number\" or \"string\", got %q", at, t.Name, t.Decimal)
		}
	}
	return st, nil
}

// checkTableOptions rejects the per-table keys only some dialects honour
// (decimal, where) when src does not list them in TableOptions.
func (c *Config) checkTableOptions(src Source) error {
	var allowed []string
	if o, ok := src.(TableOptioner); ok {
		allowed = o.TableOptions()
	}
	for i, t := range c.Tables {
		for _, o := range []struct{ key, val string }{{"decimal", t.Decimal}, {"where", t.Where}} {
			if o.val != "" && !slices.Contains(allowed, o.key) {
				return fmt.Errorf("tables[%d] (%s).%s: not supported by %s", i, t.Name, o.key, src.Name())
			}
		}
	}
	return nil
}

func validCase(s string) error {
	if s != "lower" && s != "preserve" {
		return fmt.Errorf("must be \"lower\" or \"preserve\", got %q", s)
	}
	return nil
}
