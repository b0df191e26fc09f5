package capture

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

func TestParseStrategy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Strategy
	}{
		{"polling", Polling},
		{"trigger", Trigger},
		{"commit_order", CommitOrder},
		{"notify", Notify},
		{"rowscn", CommitOrder},
		{"xmin", CommitOrder},
		{"cqn", Notify},
	} {
		got, err := ParseStrategy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseStrategy(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "Polling", "TRIGGER", "rowscn ", "cdc", "logminer"} {
		_, err := ParseStrategy(bad)
		want := fmt.Sprintf("unknown strategy %q (want polling, trigger, commit_order or notify; aliases rowscn, xmin, cqn)", bad)
		if err == nil || err.Error() != want {
			t.Errorf("ParseStrategy(%q) error = %v; want %q", bad, err, want)
		}
	}
}

func TestSupported(t *testing.T) {
	f := newFake()
	for _, tc := range []struct {
		name string
		src  Source
		want []Strategy
	}{
		{"all capabilities", f, []Strategy{Polling, Trigger, Notify}},
		{"poller only", pollOnlySource{f, f}, []Strategy{Polling}},
		{"changelog without waiter", triggerOnlySource{f, f}, []Strategy{Trigger}},
	} {
		if got := Supported(tc.src); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Supported = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestConfigValidateAccepts(t *testing.T) {
	long := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   Strategy
	}{
		{"polling", func(c *Config) {}, Polling},
		{"trigger needs no timestamp_column", func(c *Config) { c.Strategy = "trigger"; c.Tables[0].TimestampColumn = "" }, Trigger},
		{"notify", func(c *Config) { c.Strategy = "notify" }, Notify},
		{"alias cqn resolves to notify", func(c *Config) { c.Strategy = "cqn" }, Notify},
		{"schema-qualified table", func(c *Config) { c.Tables[0].Name = "shop.orders" }, Polling},
		{"dollar and underscore identifiers", func(c *Config) {
			c.Tables[0].Name = "_sys$orders"
			c.Tables[0].Key = []string{"ID$1", "_k"}
			c.Tables[0].Tags = []string{"Region_2"}
		}, Polling},
		{"128-character identifiers", func(c *Config) {
			c.Tables[0].Name = long + "." + long
			c.Tables[0].Key = []string{long}
			c.ChangelogTable = long
		}, Polling},
		{"zero lag", func(c *Config) { c.Lag = 0 }, Polling},
		{"column_case preserve", func(c *Config) { c.ColumnCase = "preserve"; c.Tables[0].ColumnCase = "lower" }, Polling},
		{"same name in two schemas", func(c *Config) {
			c.Tables = append(c.Tables, TableConfig{Name: "archive.orders", Key: []string{"id"}, TimestampColumn: "ts"})
		}, Polling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			got, err := c.Validate("fake", Supported(newFake()))
			if err != nil || got != tc.want {
				t.Fatalf("Validate = %q, %v; want %q, nil", got, err, tc.want)
			}
		})
	}
}

func validConfig() *Config {
	return testConfig("polling", TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "ts", Tags: []string{"region"}, Columns: []string{"amount"}})
}

func identErr(s string) string {
	return fmt.Sprintf("invalid identifier %q (letters, digits, _ and $ only, not starting with a digit, at most 128 characters)", s)
}

// Identifiers that must never reach SQL: injection attempts, quotes,
// whitespace, unicode, punctuation, leading digits, empty, too long.
var badIdents = []string{
	"transactions; DROP TABLE x",
	`a"b`,
	"a'b",
	"x'--",
	"a`b",
	"a]b",
	"my table",
	" orders",
	"orders\n",
	"a\x00b",
	"tränsactions",
	"ｏｒｄｅｒｓ", // full-width letters
	"a-b",
	"a/*c*/",
	"1abc",
	"",
	strings.Repeat("a", 129),
}

func TestConfigValidateRejects(t *testing.T) {
	type tcase struct {
		name   string
		mutate func(*Config)
		want   string // the complete error message
	}
	cases := []tcase{
		{"unknown strategy", func(c *Config) { c.Strategy = "logminer" },
			`strategy: unknown strategy "logminer" (want polling, trigger, commit_order or notify; aliases rowscn, xmin, cqn)`},
		{"empty strategy", func(c *Config) { c.Strategy = "" },
			`strategy: unknown strategy "" (want polling, trigger, commit_order or notify; aliases rowscn, xmin, cqn)`},
		{"unsupported strategy", func(c *Config) { c.Strategy = "commit_order" },
			`strategy: "commit_order" is not supported by fake (supported: polling, trigger, notify)`},
		{"unsupported alias keeps the name the user wrote", func(c *Config) { c.Strategy = "xmin" },
			`strategy: "xmin" is not supported by fake (supported: polling, trigger, notify)`},
		{"zero poll_interval", func(c *Config) { c.PollInterval = 0 }, "poll_interval: must be greater than 0"},
		{"negative poll_interval", func(c *Config) { c.PollInterval = sdk.Duration(-time.Second) }, "poll_interval: must be greater than 0"},
		{"zero batch_size", func(c *Config) { c.BatchSize = 0 }, "batch_size: must be at least 1"},
		{"negative batch_size", func(c *Config) { c.BatchSize = -5 }, "batch_size: must be at least 1"},
		{"negative lag", func(c *Config) { c.Lag = sdk.Duration(-time.Millisecond) }, "lag: must not be negative"},
		{"bad column_case", func(c *Config) { c.ColumnCase = "upper" }, `column_case: must be "lower" or "preserve", got "upper"`},
		{"empty column_case", func(c *Config) { c.ColumnCase = "" }, `column_case: must be "lower" or "preserve", got ""`},
		{"bad table column_case", func(c *Config) { c.Tables[0].ColumnCase = "Lower" },
			`tables[0] (orders).column_case: must be "lower" or "preserve", got "Lower"`},
		{"no tables", func(c *Config) { c.Tables = nil }, "tables: at least one [[...tables]] entry is required"},
		{"duplicate table", func(c *Config) { c.Tables = append(c.Tables, c.Tables[0]) },
			`tables[1].name: table "orders" is listed twice`},
		{"duplicate table differing in case", func(c *Config) {
			c.Tables = append(c.Tables, TableConfig{Name: "ORDERS", Key: []string{"id"}, TimestampColumn: "ts"})
		}, `tables[1].name: table "ORDERS" is listed twice`},
		{"empty key", func(c *Config) { c.Tables[0].Key = nil }, "tables[0] (orders).key: at least one key column is required"},
		{"missing timestamp_column for polling", func(c *Config) { c.Tables[0].TimestampColumn = "" },
			"tables[0] (orders).timestamp_column: required by the polling strategy"},
		{"second table is named in errors", func(c *Config) {
			c.Tables = append(c.Tables, TableConfig{Name: "items", Key: []string{"id"}})
		}, "tables[1] (items).timestamp_column: required by the polling strategy"},
		{"too many dots in table", func(c *Config) { c.Tables[0].Name = "a.b.c" },
			`tables[0].name: invalid table name "a.b.c" (want table or schema.table)`},
		{"empty schema", func(c *Config) { c.Tables[0].Name = ".orders" }, "tables[0].name: " + identErr("")},
		{"empty table after schema", func(c *Config) { c.Tables[0].Name = "shop." }, "tables[0].name: " + identErr("")},
		{"injection in schema", func(c *Config) { c.Tables[0].Name = `sh"op.orders` }, "tables[0].name: " + identErr(`sh"op`)},
		{"injection in table after schema", func(c *Config) { c.Tables[0].Name = `shop.orders"; DROP TABLE x; --` },
			"tables[0].name: " + identErr(`orders"; DROP TABLE x; --`)},
	}
	for _, bad := range badIdents {
		cases = append(cases,
			tcase{"table " + bad, func(c *Config) { c.Tables[0].Name = bad }, "tables[0].name: " + identErr(bad)},
			tcase{"changelog_table " + bad, func(c *Config) { c.ChangelogTable = bad }, "changelog_table: " + identErr(bad)},
			tcase{"key " + bad, func(c *Config) { c.Tables[0].Key = []string{"id", bad} }, "tables[0] (orders).key: " + identErr(bad)},
			tcase{"columns " + bad, func(c *Config) { c.Tables[0].Columns = []string{bad} }, "tables[0] (orders).columns: " + identErr(bad)},
			tcase{"tags " + bad, func(c *Config) { c.Tables[0].Tags = []string{"region", bad} }, "tables[0] (orders).tags: " + identErr(bad)},
		)
		if bad != "" { // an empty timestamp_column means "none"
			cases = append(cases, tcase{"timestamp_column " + bad, func(c *Config) { c.Tables[0].TimestampColumn = bad },
				"tables[0] (orders).timestamp_column: " + identErr(bad)})
		}
	}
	// A qualified name is not a column name.
	cases = append(cases, tcase{"dotted column", func(c *Config) { c.Tables[0].Columns = []string{"o.amount"} },
		"tables[0] (orders).columns: " + identErr("o.amount")})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			st, err := c.Validate("fake", Supported(newFake()))
			if err == nil {
				t.Fatalf("Validate accepted the config (strategy %q); want error %q", st, tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("Validate error\n got: %s\nwant: %s", err, tc.want)
			}
			// NewEngine refuses the same configuration with the same message.
			if _, err2 := NewEngine(c, newFake(), sdk.Env{}); err2 == nil || err2.Error() != tc.want {
				t.Fatalf("NewEngine error = %v, want %q", err2, tc.want)
			}
		})
	}
}

func TestConfigValidateSupportedDependsOnDialect(t *testing.T) {
	f := newFake()
	c := validConfig()
	c.Strategy = "notify"
	_, err := c.Validate("triggers-only", Supported(triggerOnlySource{f, f}))
	want := `strategy: "notify" is not supported by triggers-only (supported: trigger)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	c.Strategy = "trigger"
	_, err = c.Validate("poll-only", Supported(pollOnlySource{f, f}))
	want = `strategy: "trigger" is not supported by poll-only (supported: polling)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestSplitTable(t *testing.T) {
	for _, tc := range []struct{ in, schema, table string }{
		{"orders", "", "orders"},
		{"shop.orders", "shop", "orders"},
		{"Shop.Orders", "Shop", "Orders"},
	} {
		s, tb, err := SplitTable(tc.in)
		if err != nil || s != tc.schema || tb != tc.table {
			t.Errorf("SplitTable(%q) = %q, %q, %v", tc.in, s, tb, err)
		}
	}
	for _, bad := range []string{"", "a..b", "a.b.c", `a;b`, "a b.c", "a.b c"} {
		if _, _, err := SplitTable(bad); err == nil {
			t.Errorf("SplitTable(%q) accepted", bad)
		}
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	c.Tables = []TableConfig{{Name: "orders", Key: []string{"id"}}}
	st, err := c.Validate("fake", Supported(newFake()))
	if err != nil || st != Trigger {
		t.Fatalf("default config: %q, %v; want trigger, nil", st, err)
	}
}
