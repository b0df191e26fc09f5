package oracle

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	go_ora "github.com/sijms/go-ora/v2"

	"github.com/rowflux/rowflux/sdk"
)

// fakeDB is a scripted database/sql driver for driving the dialect's
// strategy logic without a server. It is NOT Oracle: it understands no
// SQL, it answers each statement with the rows of the first responder
// whose pattern the text contains, and it records every statement and its
// arguments. The real Oracle path is covered by the suite that runs when
// ORACLE_DSN is set.
type fakeDB struct {
	mu    sync.Mutex
	resp  []responder
	calls []fakeCall
}

type responder struct {
	contains string
	answer   func(args []any) (cols []string, rows [][]any, err error)
}

type fakeCall struct {
	sql  string
	args []any
}

var (
	fakeMu  sync.Mutex
	fakeDBs = map[string]*fakeDB{}
)

func init() { sql.Register("oracle-fake", fakeDriver{}) }

// newFakeDB registers a fake under a DSN unique to the test and returns a
// source connected to it.
func newFakeDB(t *testing.T, s *source) *fakeDB {
	t.Helper()
	f := &fakeDB{}
	f.on("SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')", rowsOf([]string{"S"}, []any{"APP"}))
	fakeMu.Lock()
	fakeDBs[t.Name()] = f
	fakeMu.Unlock()
	t.Cleanup(func() {
		fakeMu.Lock()
		delete(fakeDBs, t.Name())
		fakeMu.Unlock()
	})
	s.driver, s.dsn = "oracle-fake", t.Name()
	if s.echo == nil {
		s.echo = func(sdk.Statement) {}
	}
	if err := s.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return f
}

// on answers statements containing pattern (earlier responders win).
func (f *fakeDB) on(pattern string, answer func(args []any) ([]string, [][]any, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp = append([]responder{{pattern, answer}}, f.resp...)
}

func rowsOf(cols []string, rows ...[]any) func([]any) ([]string, [][]any, error) {
	return func([]any) ([]string, [][]any, error) { return cols, rows, nil }
}

func (f *fakeDB) sent() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// sentContaining returns the statements whose text contains pattern.
func (f *fakeDB) sentContaining(pattern string) []fakeCall {
	var out []fakeCall
	for _, c := range f.sent() {
		if strings.Contains(c.sql, pattern) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeDB) answer(text string, args []any) ([]string, [][]any, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{text, args})
	resp := f.resp
	f.mu.Unlock()
	for _, r := range resp {
		if strings.Contains(text, r.contains) {
			return r.answer(args)
		}
	}
	return nil, nil, nil
}

type fakeDriver struct{}

func (fakeDriver) Open(name string) (driver.Conn, error) {
	fakeMu.Lock()
	defer fakeMu.Unlock()
	f, ok := fakeDBs[name]
	if !ok {
		return nil, fmt.Errorf("no fake database %q", name)
	}
	return &fakeConn{f}, nil
}

type fakeConn struct{ f *fakeDB }

func (c *fakeConn) Prepare(string) (driver.Stmt, error) { return nil, driver.ErrSkip }
func (c *fakeConn) Close() error                        { return nil }
func (c *fakeConn) Begin() (driver.Tx, error)           { return nil, fmt.Errorf("no transactions in the fake") }

// CheckNamedValue lets every argument through, go_ora.Out included.
func (c *fakeConn) CheckNamedValue(*driver.NamedValue) error { return nil }

func args(nv []driver.NamedValue) []any {
	out := make([]any, len(nv))
	for i, v := range nv {
		out[i] = v.Value
	}
	return out
}

func (c *fakeConn) QueryContext(_ context.Context, query string, nv []driver.NamedValue) (driver.Rows, error) {
	cols, rows, err := c.f.answer(query, args(nv))
	if err != nil {
		return nil, err
	}
	return &fakeRows{cols: cols, rows: rows}, nil
}

// ExecContext answers with the first row of a responder, written into
// go_ora.Out destinations in order (a PL/SQL block's OUT binds).
func (c *fakeConn) ExecContext(_ context.Context, query string, nv []driver.NamedValue) (driver.Result, error) {
	a := args(nv)
	_, rows, err := c.f.answer(query, a)
	if err != nil {
		return nil, err
	}
	if len(rows) > 0 {
		i := 0
		for _, v := range a {
			if out, ok := v.(go_ora.Out); ok && i < len(rows[0]) {
				reflect.ValueOf(out.Dest).Elem().Set(reflect.ValueOf(rows[0][i]))
				i++
			}
		}
	}
	return driver.RowsAffected(0), nil
}

type fakeRows struct {
	cols []string
	rows [][]any
	i    int
}

func (r *fakeRows) Columns() []string { return r.cols }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.i >= len(r.rows) {
		return io.EOF
	}
	for j := range dest {
		dest[j] = r.rows[r.i][j]
	}
	r.i++
	return nil
}
