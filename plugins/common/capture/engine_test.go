package capture

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

func TestEmitFailureStopsRun(t *testing.T) {
	for _, tc := range []struct {
		strategy  string
		failAfter int
	}{
		{"polling", 0}, {"polling", 1},
		{"trigger", 0}, {"trigger", 1},
		{"notify", 0}, {"notify", 1},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			f := pollFake(distinct(1, 6)...)
			for i := 1; i <= 6; i++ {
				f.addChange("orders", sdk.OpInsert, int64(i), sec(i), 1.0)
			}
			cfg := testConfig(tc.strategy, TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "ts"})
			cfg.BatchSize = 2
			rec := newRec()
			rec.failAfter = tc.failAfter
			r := start(t, newEngine(t, cfg, f, sdk.Env{}), nil, rec)
			err := r.wait(t)
			if !errors.Is(err, errPipelineDown) {
				t.Fatalf("Run returned %v, want the emitter's error", err)
			}
			rec.mu.Lock()
			failed := rec.failed
			rec.mu.Unlock()
			if failed != 1 {
				t.Errorf("Emit failed %d times, want exactly once (no retry)", failed)
			}
			if n := f.count("Connect"); n != 1 {
				t.Errorf("Connect called %d times; an emit failure is not a source failure", n)
			}
			if got := len(rec.events()); got != 2*tc.failAfter {
				t.Errorf("%d events accepted, want %d", got, 2*tc.failAfter)
			}
		})
	}
}

func TestRunReturnsNilOnCancel(t *testing.T) {
	for _, s := range []string{"polling", "trigger", "notify"} {
		t.Run(s, func(t *testing.T) {
			f := pollFake(distinct(1, 2)...)
			cfg := testConfig(s, TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "ts"})
			cfg.PollInterval = sdk.Duration(time.Hour)
			r := start(t, newEngine(t, cfg, f, sdk.Env{}), nil, newRec())
			waitFor(t, "capture to start", func() bool {
				return f.count("PollUpper")+f.count("ReadChangelog") > 0
			})
			if err := r.stop(t); err != nil {
				t.Fatalf("Run after cancel = %v, want nil", err)
			}
		})
	}
}

func TestRunReturnsNilOnCancelWhileSourceDown(t *testing.T) {
	f := pollFake()
	f.failNext("Connect", 1000, errConnLost)
	r := start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), nil, newRec())
	waitFor(t, "a connect attempt", func() bool { return f.count("Connect") >= 1 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestAutoSetup(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		first    string // the first capture call
	}{{"polling", "PollUpper"}, {"trigger", "ReadChangelog"}, {"notify", "ReadChangelog"}} {
		t.Run(tc.strategy, func(t *testing.T) {
			f := pollFake(distinct(1, 2)...)
			f.addChange("orders", sdk.OpInsert, int64(1), sec(1), 1.0)
			cfg := testConfig(tc.strategy, TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "ts"})
			cfg.AutoSetup = true
			rec := newRec()
			e := newEngine(t, cfg, f, sdk.Env{})
			start(t, e, nil, rec)
			rec.waitEvents(t, 1)

			order := f.callOrder()
			setup, capture := slices.Index(order, "Setup"), slices.Index(order, tc.first)
			if setup < 0 || capture < 0 || setup > capture {
				t.Fatalf("calls %v: Setup must come before %s", order, tc.first)
			}
			f.mu.Lock()
			setups, tables := slices.Clone(f.setups), slices.Clone(f.setupTables)
			f.mu.Unlock()
			want := Strategy(tc.strategy)
			if !slices.Equal(setups, []Strategy{want}) {
				t.Fatalf("Setup calls %v, want [%s]", setups, want)
			}
			if len(tables[0]) != 1 || tables[0][0].Name != "orders" || len(tables[0][0].Columns) != 3 {
				t.Fatalf("Setup got tables %+v, want the resolved table", tables[0])
			}
		})
	}
}

func TestAutoSetupSkippedInTestMode(t *testing.T) {
	f := clFake(false)
	addOrders(f, 1, 2)
	cfg := clConfig("trigger", 10)
	cfg.AutoSetup = true
	rec := newRec()
	start(t, newEngine(t, cfg, f, sdk.Env{Test: true}), nil, rec)
	rec.waitEvents(t, 2)
	if n := f.count("Setup"); n != 0 {
		t.Fatalf("Setup called %d times in test mode", n)
	}
}

func TestAutoSetupFailureStopsRun(t *testing.T) {
	f := clFake(false)
	f.failNext("Setup", 1, errors.New("permission denied to create trigger"))
	cfg := clConfig("trigger", 10)
	cfg.AutoSetup = true
	r := start(t, newEngine(t, cfg, f, sdk.Env{}), nil, newRec())
	err := r.wait(t)
	if err == nil || !strings.HasPrefix(err.Error(), "auto_setup: ") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Run = %v, want an auto_setup error", err)
	}
	if n := f.count("ReadChangelog"); n != 0 {
		t.Fatalf("captured %d times after a failed setup", n)
	}

	// A dialect without an Installer cannot auto_setup.
	cfg = pollConfig(3)
	cfg.AutoSetup = true
	src := pollOnlySource{f, f}
	r = start(t, newEngine(t, cfg, src, sdk.Env{}), nil, newRec())
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "fake does not manage capture objects") {
		t.Fatalf("Run = %v", err)
	}
}

func TestSetupTeardownUseStrategyAndTables(t *testing.T) {
	f := clFake(false)
	e := newEngine(t, clConfig("notify", 10), f, sdk.Env{})
	ctx := context.Background()
	if err := e.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if f.count("Setup") != 1 || f.count("Teardown") != 1 {
		t.Fatalf("calls %v", f.callOrder())
	}
	if f.setups[0] != Notify || len(f.setupTables[0]) != 2 || e.Strategy() != Notify || len(e.Tables()) != 2 {
		t.Fatalf("setup with %v %v", f.setups, f.setupTables)
	}
}

func TestDoctor(t *testing.T) {
	ctx := context.Background()

	t.Run("missing table is a failed check", func(t *testing.T) {
		f := clFake(false)
		cfg := clConfig("trigger", 10)
		cfg.Tables = append(cfg.Tables, TableConfig{Name: "shop.refunds", Key: []string{"id"}})
		e := newEngine(t, cfg, f, sdk.Env{})
		checks, err := e.Doctor(ctx)
		if err != nil {
			t.Fatalf("Doctor returned error %v; a missing table is a failed check", err)
		}
		byName := map[string]sdk.Check{}
		for _, c := range checks {
			byName[c.Name] = c
		}
		if c := byName["connect to the source"]; !c.OK {
			t.Errorf("connect check %+v", c)
		}
		if c := byName["table orders"]; !c.OK {
			t.Errorf("orders check %+v", c)
		}
		c, ok := byName["table shop.refunds"]
		if !ok || c.OK || !strings.Contains(c.Detail, "not found") || c.Fix == "" {
			t.Errorf("refunds check %+v, want a failed check with detail and fix", c)
		}
		if n := f.count("Doctor"); n != 0 {
			t.Errorf("dialect Doctor called %d times without resolved tables", n)
		}
	})

	t.Run("missing column is a failed check", func(t *testing.T) {
		f := clFake(false)
		cfg := clConfig("trigger", 10)
		cfg.Tables[0].Tags = []string{"currency"}
		checks, err := newEngine(t, cfg, f, sdk.Env{}).Doctor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(checks, func(c sdk.Check) bool {
			return c.Name == "table orders" && !c.OK && strings.Contains(c.Detail, "currency")
		}) {
			t.Errorf("checks %+v", checks)
		}
	})

	t.Run("all tables present: dialect checks follow", func(t *testing.T) {
		f := clFake(false)
		f.doctorCheck = []sdk.Check{{Name: "CREATE TRIGGER privilege", OK: false, Fix: "GRANT ..."}}
		checks, err := newEngine(t, clConfig("trigger", 10), f, sdk.Env{}).Doctor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range checks {
			names = append(names, c.Name)
		}
		want := []string{"connect to the source", "table orders", "table items", "CREATE TRIGGER privilege"}
		if !slices.Equal(names, want) {
			t.Fatalf("checks %v, want %v", names, want)
		}
	})

	t.Run("unreachable source is a failed check", func(t *testing.T) {
		f := clFake(false)
		f.failNext("Connect", 1, errConnLost)
		checks, err := newEngine(t, clConfig("trigger", 10), f, sdk.Env{}).Doctor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(checks) != 1 || checks[0].OK || !strings.Contains(checks[0].Detail, "connection lost") {
			t.Fatalf("checks %+v", checks)
		}
	})

	t.Run("dialect without installer", func(t *testing.T) {
		f := clFake(false)
		if _, err := newEngine(t, clConfig("trigger", 10), triggerOnlySource{f, f}, sdk.Env{}).Doctor(ctx); err == nil {
			t.Fatal("no error")
		}
	})
}
