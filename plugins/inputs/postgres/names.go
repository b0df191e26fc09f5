package postgres

import (
	"context"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/capture"
)

// namedSource is the dialect as the engine sees it: Describe matches a
// configured name as written, else folded to lower case as PostgreSQL
// folds unquoted names ("TRANSACTIONS" finds transactions, the spelling an
// Oracle configuration uses), and StoredName hands the engine the spelling
// that matched. Every statement quotes that spelling; quoting the
// configured one would name a relation that does not exist.
type namedSource struct {
	*source
	mu     sync.Mutex
	stored map[[2]string][2]string
}

func newNamedSource(s *source) *namedSource {
	return &namedSource{source: s, stored: map[[2]string][2]string{}}
}

var _ capture.TableNamer = (*namedSource)(nil)

func (n *namedSource) Describe(ctx context.Context, schema, table string) ([]capture.ColumnInfo, error) {
	cols, err := n.source.Describe(ctx, schema, table)
	if err != nil {
		return nil, err
	}
	var exact bool
	err = n.use(ctx, func(c *pgx.Conn) error {
		s := schema
		if s == "" {
			s = "public"
		}
		return c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))`, s, table).Scan(&exact)
	})
	if err != nil {
		return nil, err
	}
	got := [2]string{schema, table}
	if !exact {
		got = [2]string{strings.ToLower(schema), strings.ToLower(table)}
		if schema != "" && n.source.schema == schema {
			// The changelog and functions go to the first table's schema,
			// taken from the configuration before it was resolved.
			n.source.schema = got[0]
		}
	}
	n.mu.Lock()
	n.stored[[2]string{schema, table}] = got
	n.mu.Unlock()
	return cols, nil
}

// StoredName is the spelling Describe found for a configured name.
func (n *namedSource) StoredName(schema, table string) (string, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if got, ok := n.stored[[2]string{schema, table}]; ok {
		return got[0], got[1]
	}
	return schema, table
}
