package postgres

import (
	"context"
	"fmt"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/pgtest"
	"github.com/rowflux/rowflux/sdk"
)

const schema = `CREATE TABLE transactions (
  transaction_id integer PRIMARY KEY,
  amount numeric(12,2) NOT NULL,
  currency varchar(3) NOT NULL,
  product_category varchar(32) NOT NULL,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL,
  note bytea,
  meta jsonb,
  ok boolean,
  ratio double precision,
  qty numeric(10,0),
  at timestamptz
)`

// newDB creates a database with the transactions table and returns its
// DSN and a connection of the "application".
func newDB(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := pgtest.DB(t)
	pgtest.Exec(t, dsn, schema)
	return dsn, pgtest.Conn(t, dsn)
}

func newInput(t *testing.T, dsn, strategy string, mutate ...func(*Postgres)) *Postgres {
	t.Helper()
	in := &Postgres{DSN: dsn, Config: capture.DefaultConfig()}
	in.Strategy = strategy
	in.PollInterval = sdk.Duration(20 * time.Millisecond)
	in.Lag = 0
	in.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}, Tags: []string{"currency"}, TimestampColumn: "updated_at"}}
	for _, m := range mutate {
		m(in)
	}
	if err := in.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

var t0 = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)

func exec(t *testing.T, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func writeChanges(t *testing.T, c *pgx.Conn) {
	t.Helper()
	exec(t, c, `INSERT INTO transactions VALUES (1, 12.50, 'EUR', 'books', $1, $1, '\x00ff', '{"a": [1, 2]}', true, 0.25, 7, $2)`, t0, t0)
	exec(t, c, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (2, 7, 'USD', 'toys', $1, $2)", t0, t0.Add(time.Millisecond))
	exec(t, c, "UPDATE transactions SET amount = 13.00, updated_at = $1 WHERE transaction_id = 1", t0.Add(2*time.Millisecond))
	exec(t, c, "DELETE FROM transactions WHERE transaction_id = 2")
}

func summary(e sdk.Event) string {
	id, _ := e.Field("transaction_id")
	amount, _ := e.Field("amount")
	cur, _ := e.Tag("currency")
	return fmt.Sprintf("%s %s id=%v(%T) amount=%v(%T) currency=%s", e.Name, e.Op, id, id, amount, amount, cur)
}

func summaries(ev []sdk.Event) []string {
	var out []string
	for _, e := range ev {
		out = append(out, summary(e))
	}
	return out
}

// checkTypes checks the normalised values of row 1 after its update.
func checkTypes(t *testing.T, e sdk.Event) {
	t.Helper()
	want := map[string]any{
		"transaction_id":   int64(1),
		"amount":           13.0,
		"product_category": "books",
		"created_at":       t0,
		"updated_at":       t0.Add(2 * time.Millisecond),
		"note":             []byte{0, 0xff},
		"meta":             `{"a": [1, 2]}`,
		"ok":               true,
		"ratio":            0.25,
		"qty":              int64(7),
		"at":               t0,
	}
	for k, w := range want {
		got, _ := e.Field(k)
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", w) {
			if gt, ok := got.(time.Time); ok && gt.Equal(w.(time.Time)) && gt.Location() == time.UTC {
				continue
			}
			t.Errorf("field %s = %#v, want %#v", k, got, w)
		}
	}
}

func TestChangelogStrategiesCaptureEveryChange(t *testing.T) {
	for _, strategy := range []string{"trigger", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			dsn, app := newDB(t)
			in := newInput(t, dsn, strategy)
			if err := in.Setup(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec, stop := inputtest.Start(t, in)
			writeChanges(t, app)
			ev := rec.WaitFor(t, 4)
			stop()
			want := []string{
				"transactions insert id=1(int64) amount=12.5(float64) currency=EUR",
				"transactions insert id=2(int64) amount=7(float64) currency=USD",
				"transactions update id=1(int64) amount=13(float64) currency=EUR",
				"transactions delete id=2(int64) amount=7(float64) currency=USD",
			}
			if got := summaries(ev); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			checkTypes(t, ev[2])
			// Consumed rows are deleted once the checkpoint is durable.
			_, pos := rec.Snapshot()
			if err := in.CheckpointDurable(context.Background(), pos); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := app.QueryRow(context.Background(), "SELECT count(*) FROM rowflux_changelog").Scan(&n); err != nil || n != 0 {
				t.Fatalf("changelog rows after checkpoint: %d %v", n, err)
			}
		})
	}
}

func TestPollingSeesLatestStateNotDeletes(t *testing.T) {
	dsn, app := newDB(t)
	in := newInput(t, dsn, "polling")
	writeChanges(t, app)
	rec, stop := inputtest.Start(t, in)
	rec.WaitFor(t, 1)
	time.Sleep(150 * time.Millisecond)
	stop()
	ev, pos := rec.Snapshot()
	if got, want := strings.Join(summaries(ev), "\n"), "transactions upsert id=1(int64) amount=13(float64) currency=EUR"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	checkTypes(t, ev[0])
	// Resuming from the position reads nothing old and picks up a new row.
	exec(t, app, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (3, 1, 'GBP', 'garden', $1, $2)", t0, t0.Add(time.Second))
	in2 := newInput(t, dsn, "polling", func(p *Postgres) { p.Tables[0].AppendOnly = true })
	rec2 := &inputtest.Recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := in2.Run(ctx, pos, rec2); err != nil {
		t.Fatal(err)
	}
	ev2, _ := rec2.Snapshot()
	if got, want := strings.Join(summaries(ev2), "\n"), "transactions insert id=3(int64) amount=1(float64) currency=GBP"; got != want {
		t.Fatalf("after resume got %s, want %s", got, want)
	}
}

// TestPollingBoundedByOpenTransaction: a transaction that began before a
// row committed by another keeps the bound below its start, so a row it
// writes later with its old now() is not passed.
func TestPollingBoundedByOpenTransaction(t *testing.T) {
	dsn, app := newDB(t)
	pgtest.Exec(t, dsn, "ALTER TABLE transactions ALTER COLUMN updated_at SET DEFAULT now()")
	long := pgtest.Conn(t, dsn)
	ctx := context.Background()
	tx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil { // xact_start is set
		t.Fatal(err)
	}
	exec(t, app, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at) VALUES (1, 1, 'EUR', 'a', now())")
	in := newInput(t, dsn, "polling")
	rec, stop := inputtest.Start(t, in)
	time.Sleep(150 * time.Millisecond)
	if ev, _ := rec.Snapshot(); len(ev) != 0 {
		t.Fatalf("emitted %v while an older transaction is open", summaries(ev))
	}
	if _, err := tx.Exec(ctx, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at) VALUES (2, 2, 'EUR', 'a', now())"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ev := rec.WaitFor(t, 2)
	stop()
	ids := map[any]bool{}
	for _, e := range ev {
		id, _ := e.Field("transaction_id")
		ids[id] = true
	}
	if !ids[int64(1)] || !ids[int64(2)] {
		t.Fatalf("got %v", summaries(ev))
	}

}

// TestPollUpper: bounded, the upper bound stays below the start of an open
// transaction of another session; unbounded it is statement time − lag.
func TestPollUpper(t *testing.T) {
	dsn, _ := newDB(t)
	long := pgtest.Conn(t, dsn)
	ctx := context.Background()
	tx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var started time.Time
	if err := tx.QueryRow(ctx, "SELECT now()").Scan(&started); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	for _, bounded := range []bool{true, false} {
		in := newInput(t, dsn, "polling", func(p *Postgres) { p.BoundByOpenTransactions = &bounded })
		src := connected(t, in)
		up, err := src.PollUpper(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		u := up.(time.Time)
		if bounded != u.Before(started) {
			t.Errorf("bounded=%v: upper %v, open transaction started %v", bounded, u, started)
		}
	}
}

func TestNotifyWakesPromptly(t *testing.T) {
	dsn, app := newDB(t)
	in := newInput(t, dsn, "notify", func(p *Postgres) { p.PollInterval = sdk.Duration(time.Minute) })
	if err := in.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, stop := inputtest.Start(t, in)
	defer stop()
	time.Sleep(200 * time.Millisecond) // the engine drains, then waits
	for i := range 5 {
		before := time.Now()
		exec(t, app, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES ($1, 1, 'EUR', 'a', $2, $2)", i+1, t0)
		rec.WaitFor(t, i+1)
		took := rec.ArrivedAt(i).Sub(before)
		if took > 200*time.Millisecond {
			t.Fatalf("change %d reached the engine after %v (poll_interval is 1m)", i+1, took)
		}
	}
}

// TestLongTransactionCaptured: a transaction opened first and committed
// last is captured by the changelog strategies.
func TestLongTransactionCaptured(t *testing.T) {
	for _, strategy := range []string{"trigger", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			dsn, app := newDB(t)
			in := newInput(t, dsn, strategy)
			if err := in.Setup(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec, stop := inputtest.Start(t, in)
			long := pgtest.Conn(t, dsn)
			ctx := context.Background()
			tx, err := long.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (100, 1, 'EUR', 'long', $1, $1)", t0); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				exec(t, app, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES ($1, 1, 'EUR', 'a', $2, $2)", i+1, t0)
			}
			rec.WaitFor(t, 3)
			time.Sleep(100 * time.Millisecond) // several drains pass the long transaction's sequence number
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			ev := rec.WaitFor(t, 4)
			stop()
			if id, _ := ev[3].Field("transaction_id"); id != int64(100) || len(ev) != 4 {
				t.Fatalf("got %v", summaries(ev))
			}
		})
	}
}

// connected connects the input's dialect for direct calls.
func connected(t *testing.T, in *Postgres) *source {
	t.Helper()
	if err := in.src.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	return in.src
}
