// Package workload drives the transactions table of a database with a
// paced mix of single-change transactions (inserts, updates, deletes, some
// of them held open for a while) and records every committed change in a
// ledger: the ground truth that tests and `agent bench` compare captured
// events against.
//
// The database-specific parts (opening a DSN, DDL, placeholders, row
// locks, which errors are worth a retry) sit behind the dialect interface,
// implemented for SQLite, PostgreSQL and Oracle.
package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// DefaultRate is the rate the CLI uses when --rate is not given.
const DefaultRate = 100

// preloadBatch is the number of rows per preload transaction: big enough
// that preloading is quick, small enough not to hold the write lock long.
const preloadBatch = 5000

// Options configure a Run. The zero value of a field means its default,
// except Rate (0 = unpaced) and Duration (0 = until ctx is cancelled).
type Options struct {
	DSN           string        // "sqlite://PATH" (PATH relative or absolute), "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?…]" ("postgresql://" too) or "oracle://USER:PASSWORD@HOST:PORT/SERVICE[?…]"
	Rate          float64       // committed transactions per second over all writers; 0 = as fast as possible (the CLI defaults to DefaultRate)
	Duration      time.Duration // length of the timed run (preload excluded); 0 = until ctx is cancelled
	Writers       int           // concurrent writer goroutines; default 1
	LongTxEvery   int           // every Nth transaction (counted over all writers) stays open LongTxHold before COMMIT; 0 = never
	LongTxHold    time.Duration // how long a long transaction stays open before COMMIT
	Mix           [3]int        // relative weights of insert, update, delete; default {60, 30, 10}
	Preload       int           // rows inserted first, in big transactions (ledgered too), before the timed run
	Ledger        string        // ledger file (JSON lines, appended to); "" = none
	Seed          int64         // seeds the writers' random choices
	Progress      io.Writer     // receives a progress line every ProgressEvery and a summary; nil = none
	ProgressEvery time.Duration // default 1s
	SchemaOnly    bool          // create the table and its index, then return: lets capture objects be set up before the first change

	// OnCommit, when set, is called after each timed transaction's ledger
	// line is written, with the entry (N set), when its last attempt began
	// (before BEGIN), when its COMMIT returned, and whether it was a long
	// one. Called from the writers, concurrently. agent/bench uses it for
	// commit latency and as the commit time of capture latency; tests use
	// it to time individual transactions.
	OnCommit func(e Entry, began, committed time.Time, long bool)
}

// Stats count what the timed run committed (preloaded rows are not counted).
type Stats struct {
	Commits, Inserts, Updates, Deletes int64
	Retries                            int64 // transactions rolled back because the database was busy, then tried again
	LongTx                             int64 // committed long transactions
	Elapsed                            time.Duration
}

// ConfigError is a problem with the Options (a bad DSN, a missing
// directory, a value out of range) rather than a failure while running;
// the CLI exits with status 2 for it.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

var (
	currencies = [...]string{"EUR", "USD", "GBP", "JPY", "CHF"}
	categories = [...]string{"books", "electronics", "garden", "toys", "grocery", "fashion", "sports", "home"}
)

// ParseMix parses "insert,update,delete" weights such as "60,30,10".
func ParseMix(s string) ([3]int, error) {
	var mix [3]int
	parts := strings.Split(s, ",")
	bad := fmt.Errorf("mix %q: want three non-negative weights insert,update,delete, e.g. 60,30,10", s)
	if len(parts) != 3 {
		return mix, bad
	}
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return mix, bad
		}
		mix[i] = n
	}
	if mix[0]+mix[1]+mix[2] == 0 {
		return mix, fmt.Errorf("mix %q: the weights add up to 0", s)
	}
	return mix, nil
}

func (o *Options) check() error {
	bad := func(format string, a ...any) error { return &ConfigError{fmt.Errorf(format, a...)} }
	switch {
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return bad("rate %v: want a number ≥ 0 (0 = as fast as possible)", o.Rate)
	case o.Duration < 0:
		return bad("duration %v: want ≥ 0 (0 = until stopped)", o.Duration)
	case o.Writers < 0:
		return bad("writers %d: want ≥ 1", o.Writers)
	case o.LongTxEvery < 0:
		return bad("long-tx-every %d: want ≥ 0 (0 = no long transactions)", o.LongTxEvery)
	case o.LongTxHold < 0:
		return bad("long-tx-hold %v: want ≥ 0", o.LongTxHold)
	case o.Preload < 0:
		return bad("preload %d: want ≥ 0", o.Preload)
	case o.ProgressEvery < 0:
		return bad("progress interval %v: want ≥ 0", o.ProgressEvery)
	case o.Mix[0] < 0 || o.Mix[1] < 0 || o.Mix[2] < 0:
		return bad("mix %v: weights must not be negative", o.Mix)
	}
	if o.Writers == 0 {
		o.Writers = 1
	}
	if o.Mix == [3]int{} {
		o.Mix = [3]int{60, 30, 10}
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	return nil
}

// errStopped ends a transaction that was not committed because the run was
// stopped while it waited to retry. Nothing of it is in the table or the
// ledger.
var errStopped = errors.New("stopped")

// runner is one Run's state.
type runner struct {
	opts   Options
	d      dialect
	q      queries
	db     *sql.DB
	stmts  struct{ insert, read, update, delete *sql.Stmt }
	live   *liveSet
	ledger *ledger
	pace   pacer

	txSeq   atomic.Int64 // transaction numbers for the ledger's Tx
	started atomic.Int64 // timed transactions begun; picks the long ones

	commits, inserts, updates, deletes, retries, longTx atomic.Int64
	longOpen                                            atomic.Int64
}

// Run drives the workload until opts.Duration has elapsed or ctx is
// cancelled (both a clean stop: nil error), then waits for every writer to
// finish the transaction it is in, flushes and syncs the ledger and returns.
func Run(ctx context.Context, opts Options) (Stats, error) {
	if err := opts.check(); err != nil {
		return Stats{}, err
	}
	d, err := newDialect(opts.DSN)
	if err != nil {
		return Stats{}, err
	}
	ledgerPath := opts.Ledger
	if opts.SchemaOnly {
		ledgerPath = "" // nothing will be committed
	}
	led, err := openLedger(ledgerPath)
	if err != nil {
		return Stats{}, err
	}
	r := &runner{opts: opts, d: d, q: buildQueries(d), live: newLiveSet(), ledger: led}
	r.txSeq.Store(led.lastTx)
	st, err := r.run(ctx)
	if cerr := led.close(); err == nil {
		err = cerr
	}
	if s, ok := d.(scrubber); ok {
		err = s.scrub(err)
	}
	if w := opts.Progress; w != nil && !opts.SchemaOnly && (err == nil || st.Elapsed > 0) {
		fmt.Fprintf(w, "workload: done: %d commits (%d ins, %d upd, %d del) in %s, %.1f/s, %d retries, %d long tx\n",
			st.Commits, st.Inserts, st.Updates, st.Deletes, st.Elapsed.Round(time.Millisecond),
			perSecond(st.Commits, st.Elapsed), st.Retries, st.LongTx)
	}
	return st, err
}

func (r *runner) run(ctx context.Context) (Stats, error) {
	// Statements never see ctx's cancellation: a stop lets the transaction
	// in flight end properly (COMMIT and its ledger line, or ROLLBACK)
	// instead of cutting it anywhere in between. ctx only decides whether
	// to start, wait, hold or retry.
	dbctx := context.WithoutCancel(ctx)
	db, err := r.d.open(dbctx)
	if err != nil {
		return Stats{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(r.opts.Writers + 1)
	db.SetMaxIdleConns(r.opts.Writers + 1)
	r.db = db
	if err := r.d.createSchema(dbctx, db); err != nil {
		return Stats{}, err
	}
	if r.opts.SchemaOnly {
		return Stats{}, nil
	}
	for _, s := range []struct {
		dst   **sql.Stmt
		query string
	}{{&r.stmts.insert, r.q.insert}, {&r.stmts.read, r.q.read}, {&r.stmts.update, r.q.update}, {&r.stmts.delete, r.q.delete}} {
		if *s.dst, err = db.PrepareContext(dbctx, s.query); err != nil {
			return Stats{}, fmt.Errorf("prepare %q: %w", s.query, err)
		}
		defer (*s.dst).Close()
	}
	if err := r.load(dbctx); err != nil {
		return Stats{}, err
	}
	if err := r.preload(ctx, dbctx); err != nil {
		return Stats{}, err
	}
	if ctx.Err() != nil {
		return Stats{}, nil
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.opts.Duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, r.opts.Duration)
		defer cancel()
	}
	start := time.Now()
	r.pace = pacer{start: start}
	if r.opts.Rate > 0 {
		r.pace.every = time.Duration(float64(time.Second) / r.opts.Rate)
	}
	stopReport := make(chan struct{})
	var reporting sync.WaitGroup
	if r.opts.Progress != nil {
		reporting.Go(func() { r.report(stopReport, start) })
	}

	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := range r.opts.Writers {
		wg.Go(func() {
			if err := r.writer(runCtx, dbctx, w); err != nil {
				errOnce.Do(func() { firstErr = err })
				cancel() // the others finish their transaction and stop
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopReport)
	reporting.Wait()
	return Stats{
		Commits: r.commits.Load(), Inserts: r.inserts.Load(), Updates: r.updates.Load(), Deletes: r.deletes.Load(),
		Retries: r.retries.Load(), LongTx: r.longTx.Load(), Elapsed: elapsed,
	}, firstErr
}

// load reads the ids already in the table, so updates and deletes can
// touch them and inserts do not collide with them.
func (r *runner) load(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, r.q.load)
	if err != nil {
		return fmt.Errorf("read existing rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      int64
			updated time.Time
		)
		if err := rows.Scan(&id, &updated); err != nil {
			return fmt.Errorf("read existing rows: %w", err)
		}
		r.live.add(id, updated.UTC())
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read existing rows: %w", err)
	}
	return nil
}

// preload inserts opts.Preload rows in big transactions before the timed
// run. A stop in between ends it early, cleanly.
func (r *runner) preload(ctx, dbctx context.Context) error {
	if r.opts.Preload == 0 {
		return nil
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(r.opts.Seed), 0))
	done := 0
	for done < r.opts.Preload && ctx.Err() == nil {
		es := make([]Entry, min(r.opts.Preload-done, preloadBatch))
		for i := range es {
			es[i] = Entry{ID: r.live.newID(), Op: OpInsert, Amount: randomAmount(rng),
				Currency: currencies[rng.IntN(len(currencies))], Category: categories[rng.IntN(len(categories))]}
		}
		tx := r.txSeq.Add(1)
		err := r.retry(ctx, rng, func() error { return r.insertBatch(dbctx, es) })
		if errors.Is(err, errStopped) {
			break
		}
		if err != nil {
			return fmt.Errorf("preload: %w", err)
		}
		for i := range es {
			es[i].Tx = tx
		}
		if err := r.ledger.append(es); err != nil {
			return err
		}
		for _, e := range es {
			r.live.add(e.ID, e.UpdatedAt)
		}
		done += len(es)
	}
	if w := r.opts.Progress; w != nil {
		fmt.Fprintf(w, "workload: preloaded %d rows in %s\n", done, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (r *runner) insertBatch(ctx context.Context, es []Entry) error {
	if b, ok := r.d.(bulkInserter); ok {
		return b.insertRows(ctx, r.db, es)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// After a failed statement or COMMIT the transaction is rolled back or
	// gone; a Rollback error then says nothing new.
	defer tx.Rollback()
	ins := tx.StmtContext(ctx, r.stmts.insert)
	for i := range es {
		e := &es[i]
		e.CreatedAt = now()
		e.UpdatedAt = e.CreatedAt
		if _, err := ins.ExecContext(ctx, e.ID, e.Amount, e.Currency, e.Category, r.bindTime(e.CreatedAt), r.bindTime(e.UpdatedAt)); err != nil {
			return fmt.Errorf("insert transaction_id %d: %w", e.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// change is one planned transaction. Its random parts are drawn once, so a
// retry repeats the same change.
type change struct {
	op       string
	id       int64
	prev     time.Time // update: the id's last known updated_at
	amount   string
	currency string // insert only
	category string // insert; update when the category changes, else ""
}

func (r *runner) writer(ctx, dbctx context.Context, w int) error {
	rng := rand.New(rand.NewPCG(uint64(r.opts.Seed), uint64(w)+1))
	for r.pace.wait(ctx) {
		long := false
		if every := int64(r.opts.LongTxEvery); every > 0 {
			long = r.started.Add(1)%every == 0
		}
		err := r.do(ctx, dbctx, r.plan(rng), long, rng)
		if errors.Is(err, errStopped) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("writer %d: %w", w+1, err)
		}
	}
	return nil
}

// plan draws the next change and reserves the id it touches.
func (r *runner) plan(rng *rand.Rand) change {
	ch := change{amount: randomAmount(rng)}
	m := r.opts.Mix
	switch n := rng.IntN(m[0] + m[1] + m[2]); {
	case n < m[0]:
		ch.op = OpInsert
	case n < m[0]+m[1]:
		ch.op = OpUpdate
	default:
		ch.op = OpDelete
	}
	if ch.op != OpInsert {
		id, prev, ok := r.live.pick(rng)
		if ok {
			ch.id, ch.prev = id, prev
			if ch.op == OpUpdate && rng.IntN(3) == 0 {
				ch.category = categories[rng.IntN(len(categories))]
			}
			return ch
		}
		ch.op = OpInsert // nothing (free) to change
	}
	ch.id = r.live.newID()
	ch.currency = currencies[rng.IntN(len(currencies))]
	ch.category = categories[rng.IntN(len(categories))]
	return ch
}

// do runs ch as one transaction, retrying while the database is busy, and
// ledgers it once committed.
func (r *runner) do(ctx, dbctx context.Context, ch change, long bool, rng *rand.Rand) error {
	tx := r.txSeq.Add(1)
	var (
		e                Entry
		began, committed time.Time
	)
	err := r.retry(ctx, rng, func() (err error) {
		began = time.Now()
		e, err = r.attempt(ctx, dbctx, ch, long)
		committed = time.Now()
		return err
	})
	ok := err == nil
	if ok {
		e.Tx = tx
		es := []Entry{e}
		err = r.ledger.append(es)
		e = es[0]
		if r.opts.OnCommit != nil {
			r.opts.OnCommit(e, began, committed, long)
		}
		r.commits.Add(1)
		switch ch.op {
		case OpInsert:
			r.inserts.Add(1)
		case OpUpdate:
			r.updates.Add(1)
		case OpDelete:
			r.deletes.Add(1)
		}
		if long {
			r.longTx.Add(1)
		}
	}
	// Only now, with the ledger line written, may another writer touch the
	// id: the ledger's order per id is then the commit order.
	r.live.done(ch.op, ch.id, e.UpdatedAt, ok)
	if err != nil && !errors.Is(err, errStopped) {
		return fmt.Errorf("%s transaction_id %d: %w", ch.op, ch.id, err)
	}
	return err
}

// retry runs f until it succeeds, fails for a reason other than a busy
// database, or ctx ends while waiting to try again.
func (r *runner) retry(ctx context.Context, rng *rand.Rand, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !r.d.retryable(err) {
			return err
		}
		r.retries.Add(1)
		// Exponential, with jitter so writers blocked by the same long
		// transaction do not all come back at the same instant.
		d := min(5*time.Millisecond<<min(attempt, 6), 250*time.Millisecond)
		d = d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
		if !sdk.Sleep(ctx, d) {
			return errStopped
		}
	}
}

// attempt is one try of ch: BEGIN, the change, an optional hold, COMMIT.
func (r *runner) attempt(ctx, dbctx context.Context, ch change, long bool) (Entry, error) {
	tx, err := r.db.BeginTx(dbctx, nil)
	if err != nil {
		return Entry{}, fmt.Errorf("begin: %w", err)
	}
	e, err := r.apply(dbctx, tx, ch)
	if err != nil {
		tx.Rollback() // the error that matters is err
		return Entry{}, err
	}
	if long {
		// A stop cuts the hold short but still commits: the change is
		// made, and the ledger must get it.
		r.longOpen.Add(1)
		sdk.Sleep(ctx, r.opts.LongTxHold)
		r.longOpen.Add(-1)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, fmt.Errorf("commit: %w", err)
	}
	return e, nil
}

// apply makes ch's change inside tx and returns its ledger entry.
func (r *runner) apply(ctx context.Context, tx *sql.Tx, ch change) (Entry, error) {
	// Taken inside the transaction: on SQLite the write lock is held from
	// BEGIN, so timestamps follow commit order there. On PostgreSQL other
	// writers commit while a long transaction is held, so its stamp is
	// earlier than theirs although it commits (and is ledgered) after them.
	t := now()
	if ch.op == OpInsert {
		e := Entry{ID: ch.id, Op: OpInsert, Amount: ch.amount, Currency: ch.currency, Category: ch.category, CreatedAt: t, UpdatedAt: t}
		_, err := tx.StmtContext(ctx, r.stmts.insert).ExecContext(ctx, e.ID, e.Amount, e.Currency, e.Category, r.bindTime(e.CreatedAt), r.bindTime(e.UpdatedAt))
		return e, err
	}
	e, err := r.read(ctx, tx, ch.id)
	if err != nil {
		return Entry{}, err
	}
	e.Op = ch.op
	var res sql.Result
	if ch.op == OpDelete {
		res, err = tx.StmtContext(ctx, r.stmts.delete).ExecContext(ctx, ch.id)
	} else {
		// updated_at must move forward for every change of an id, or
		// timestamp polling cannot see the change.
		prev := e.UpdatedAt
		if ch.prev.After(prev) {
			prev = ch.prev
		}
		if !t.After(prev) {
			t = prev.Add(time.Microsecond)
		}
		e.Amount, e.UpdatedAt = ch.amount, t
		if ch.category != "" {
			e.Category = ch.category
		}
		res, err = tx.StmtContext(ctx, r.stmts.update).ExecContext(ctx, e.Amount, e.Category, r.bindTime(e.UpdatedAt), ch.id)
	}
	if err != nil {
		return Entry{}, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return Entry{}, fmt.Errorf("changed %d rows, want 1 (%v): something besides the workload is writing the table", n, err)
	}
	return e, nil
}

// bindTime is how t, a UTC stamp the ledger records, is bound to
// created_at or updated_at.
func (r *runner) bindTime(t time.Time) any {
	if b, ok := r.d.(timeBinder); ok {
		return b.bindTime(t)
	}
	return t
}

// read returns the current row of id as an entry (without Op).
func (r *runner) read(ctx context.Context, tx *sql.Tx, id int64) (Entry, error) {
	e := Entry{ID: id}
	var amount any
	err := tx.StmtContext(ctx, r.stmts.read).QueryRowContext(ctx, id).
		Scan(&amount, &e.Currency, &e.Category, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, errors.New("row is gone: something besides the workload is writing the table")
	}
	if err != nil {
		return Entry{}, fmt.Errorf("read row: %w", err)
	}
	if e.Amount, err = decimalText(amount); err != nil {
		return Entry{}, fmt.Errorf("read row: %w", err)
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, nil
}

// report writes a progress line every ProgressEvery until stop closes.
func (r *runner) report(stop <-chan struct{}, start time.Time) {
	t := time.NewTicker(r.opts.ProgressEvery)
	defer t.Stop()
	lastN, lastT := int64(0), start
	for {
		select {
		case <-stop:
			return
		case tick := <-t.C:
			n := r.commits.Load()
			fmt.Fprintf(r.opts.Progress, "workload: %d commits (%d ins, %d upd, %d del), %.1f/s, %d retries, %d long tx open\n",
				n, r.inserts.Load(), r.updates.Load(), r.deletes.Load(), perSecond(n-lastN, tick.Sub(lastT)),
				r.retries.Load(), r.longOpen.Load())
			lastN, lastT = n, tick
		}
	}
}

// pacer spaces transaction starts evenly over all writers. Slot k is due
// at start + k*every, computed from the start rather than from the last
// slot, so the rate does not drift; a writer that falls behind catches up.
type pacer struct {
	start time.Time
	every time.Duration // 0: no pacing
	next  atomic.Int64
}

// wait blocks until the caller's slot is due; false once ctx is done.
func (p *pacer) wait(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if p.every == 0 {
		return true
	}
	k := p.next.Add(1) - 1
	return sdk.Sleep(ctx, time.Until(p.start.Add(time.Duration(k)*p.every)))
}

// now is the time written to created_at/updated_at: UTC, so every value has
// the same text form (polling compares it as text), and microseconds,
// which every supported database stores exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// randomAmount is 1.00–999.99 as decimal text.
func randomAmount(rng *rand.Rand) string {
	c := 100 + rng.Int64N(99_900)
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// decimalText formats an amount as the database returned it with 2
// decimals. SQLite's NUMERIC affinity stores "12.50" as the REAL 12.5 and
// "12.00" as the INTEGER 12; other drivers return decimal text.
func decimalText(v any) (string, error) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10) + ".00", nil
	case float64:
		return strconv.FormatFloat(x, 'f', 2, 64), nil
	case []byte:
		return decimalText(string(x))
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return "", fmt.Errorf("amount %q is not a number", x)
		}
		return strconv.FormatFloat(f, 'f', 2, 64), nil
	}
	return "", fmt.Errorf("amount has unexpected type %T", v)
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
