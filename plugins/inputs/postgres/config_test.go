package postgres

import (
	"bytes"
	"context"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

func TestConfigErrors(t *testing.T) {
	base := func() *Postgres {
		p := &Postgres{DSN: "postgres://u@localhost/db", Config: capture.DefaultConfig()}
		p.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}, TimestampColumn: "updated_at"}}
		return p
	}
	for _, c := range []struct {
		name   string
		mutate func(*Postgres)
		want   string
	}{
		{"no dsn", func(p *Postgres) { p.DSN = "" }, "dsn: required"},
		{"bad dsn", func(p *Postgres) { p.DSN = "postgres://u:s3cret@localhost:notaport/db" }, "dsn: "},
		{"bad strategy", func(p *Postgres) { p.Strategy = "logical" }, `strategy: unknown strategy "logical"`},
		{"bad table", func(p *Postgres) { p.Tables[0].Name = "a;drop" }, "tables[0].name: invalid identifier"},
		{"polling without timestamp", func(p *Postgres) { p.Strategy = "polling"; p.Tables[0].TimestampColumn = "" }, "timestamp_column: required by the polling strategy"},
		{"no key", func(p *Postgres) { p.Tables[0].Key = nil }, "key: at least one key column"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := base()
			c.mutate(p)
			err := p.Init(sdk.Env{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	for _, s := range []string{"polling", "trigger", "commit_order", "xmin", "notify"} {
		p := base()
		p.Strategy = s
		if err := p.Init(sdk.Env{}); err != nil {
			t.Errorf("strategy %s: %v", s, err)
		}
	}
}

// TestPasswordNeverShown: connection failures neither return nor log the
// DSN's password.
func TestPasswordNeverShown(t *testing.T) {
	var logs bytes.Buffer
	for _, dsn := range []string{
		"postgres://rowflux:s3cret%21pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=1",
		"host=127.0.0.1 port=1 user=rowflux password=s3cret!pw dbname=db sslmode=disable connect_timeout=1",
	} {
		p := &Postgres{DSN: dsn, Config: capture.DefaultConfig()}
		p.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}}}
		if err := p.Init(sdk.Env{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}); err != nil {
			t.Fatal(err)
		}
		err := p.Setup(context.Background())
		if err == nil {
			t.Fatal("connected to port 1?")
		}
		checks, _ := p.Doctor(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		p.Run(ctx, nil, &inputtest.Recorder{})
		cancel()
		p.Close()
		all := err.Error() + logs.String()
		for _, c := range checks {
			all += c.Detail
		}
		if strings.Contains(all, "s3cret") {
			t.Fatalf("password shown: %s", all)
		}
	}
}

func TestSampleConfigParses(t *testing.T) {
	var cfg struct {
		Inputs struct {
			Postgres []Postgres `toml:"postgres"`
		} `toml:"inputs"`
	}
	if _, err := toml.Decode(sampleConfig, &cfg); err != nil {
		t.Fatal(err)
	}
	in := cfg.Inputs.Postgres[0]
	if in.Strategy != "trigger" || in.Tables[0].TimestampColumn != "updated_at" || in.BoundByOpenTransactions == nil || !*in.BoundByOpenTransactions {
		t.Fatalf("%+v", in)
	}
	in.Config.PollInterval = sdk.Duration(time.Second)
	in.Config.BatchSize = 1
	if err := in.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
}

func TestRegistered(t *testing.T) {
	r, ok := sdk.LookupInput("postgres")
	if !ok {
		t.Fatal("postgres input not registered")
	}
	if _, ok := r.New().(*Postgres); !ok || r.SampleConfig != sampleConfig || !strings.Contains(r.Description, "commit_order") {
		t.Fatalf("registration: %+v", r)
	}
}
