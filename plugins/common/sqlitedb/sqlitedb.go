// Package sqlitedb opens SQLite files the way every part of rowflux does
// (the sqlite input and the workload generator), with modernc.org/sqlite.
package sqlitedb

import (
	"net/url"
	"strings"
)

// pathEscaper escapes what would end or alter the path part of a "file:"
// URI: a '#' or '?' in a file name would otherwise cut the path and drop the
// options after it.
var pathEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// DSN returns the driver DSN for a database file:
//   - WAL, so readers run beside a writer (this switches the file to WAL
//     mode, which is persistent);
//   - a 5 s busy timeout instead of immediate SQLITE_BUSY;
//   - time values bound in SQLite's own text format, so they compare in SQL
//     and read back exactly;
//   - IMMEDIATE transactions: a deferred transaction that reads and then
//     writes cannot wait for the write lock in WAL mode;
//   - unless create is true, mode=rw: a missing file is an error rather
//     than a new empty database.
func DSN(path string, create bool) string {
	q := url.Values{}
	if !create {
		q.Add("mode", "rw")
	}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_time_format", "sqlite")
	q.Add("_txlock", "immediate")
	return "file:" + pathEscaper.Replace(path) + "?" + q.Encode()
}
