package oracle

import (
	"context"
	"fmt"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// scriptOptions are the settings besides the tables that the setup,
// teardown and doctor scripts depend on.
func (s *source) scriptOptions() scriptOptions {
	return scriptOptions{CQNMode: s.cqnMode, User: s.user, Bounded: s.bounded}
}

// script is what action sends for the strategy st.
func (s *source) script(action string, st capture.Strategy, tables []*capture.Table) ([]sdk.Statement, []check, error) {
	o, opt := s.objects(), s.scriptOptions()
	switch action {
	case "setup":
		stmts, err := setupScript(st, o, tables, opt)
		return stmts, nil, err
	case "teardown":
		stmts, err := teardownScript(st, o, tables, opt)
		return stmts, nil, err
	case "doctor":
		checks, err := doctorChecks(st, o, tables, opt)
		return nil, checks, err
	}
	return nil, nil, fmt.Errorf("unknown action %q", action)
}

// plan renders action's script without connecting.
func (s *source) plan(action string, tables []*capture.Table) (string, error) {
	stmts, checks, err := s.script(action, s.strategy, tables)
	if err != nil {
		return "", err
	}
	if action == "doctor" {
		return renderChecks(checks), nil
	}
	return renderScript(stmts), nil
}

// run sends statements in order, echoing each first; the first failure
// stops (every statement is idempotent, so setup can simply run again).
func (s *source) run(ctx context.Context, stmts []sdk.Statement) error {
	for _, st := range stmts {
		s.echo(st)
		if _, err := s.exec(ctx, st.SQL); err != nil {
			return fmt.Errorf("%s: %w", st.Purpose, err)
		}
	}
	return nil
}

func (s *source) Setup(ctx context.Context, st capture.Strategy, tables []*capture.Table) error {
	stmts, _, err := s.script("setup", st, tables)
	if err != nil {
		return err
	}
	return s.run(ctx, stmts)
}

func (s *source) Teardown(ctx context.Context, st capture.Strategy, tables []*capture.Table) error {
	stmts, _, err := s.script("teardown", st, tables)
	if err != nil {
		return err
	}
	return s.run(ctx, stmts)
}

// Doctor runs every check query; a query that fails (a missing privilege
// shows as ORA-00942 or ORA-01031) fails its check with the error, and the
// check's fix is shown either way.
func (s *source) Doctor(ctx context.Context, st capture.Strategy, tables []*capture.Table) ([]sdk.Check, error) {
	_, checks, err := s.script("doctor", st, tables)
	if err != nil {
		return nil, err
	}
	out := make([]sdk.Check, 0, len(checks))
	for _, c := range checks {
		var value string
		qerr := s.query(ctx, c.SQL, nil, func(row []any) error {
			if len(row) > 0 && row[0] != nil {
				value = fmt.Sprint(row[0])
			}
			return nil
		})
		if qerr != nil {
			out = append(out, sdk.Check{Name: c.Name, Detail: qerr.Error(), Fix: c.Fix})
			continue
		}
		ok, detail := c.OK(value)
		out = append(out, sdk.Check{Name: c.Name, OK: ok, Detail: detail, Fix: c.Fix})
	}
	return out, nil
}
