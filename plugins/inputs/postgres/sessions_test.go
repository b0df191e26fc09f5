package postgres

import (
	"context"
	"testing"
)

// TestSessionsNamedForOperators: the agent's sessions (the query pool and
// notify's LISTEN session) show application_name "rowflux" in
// pg_stat_activity, so an operator can tell them apart from the
// application's, unless the DSN names them otherwise.
func TestSessionsNamedForOperators(t *testing.T) {
	dsn, app := newDB(t)
	for _, tc := range []struct{ dsn, want string }{
		{dsn, "rowflux"},
		{dsn + "&application_name=shop-cdc", "shop-cdc"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			in := newInput(t, tc.dsn, "notify")
			connected(t, in)
			defer in.Close()
			var n int
			err := app.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = $1`, tc.want).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			// One pooled session (Connect pings through it) and the listener.
			if n != 2 {
				t.Fatalf("%d sessions named %q, want 2", n, tc.want)
			}
		})
	}
}
