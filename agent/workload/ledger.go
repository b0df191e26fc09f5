package workload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Entry is one ledger line: one committed change.
type Entry struct {
	N         int64     `json:"n"`                // commit order: 1, 2, 3 … assigned under a mutex right after COMMIT returns (exact per id)
	Tx        int64     `json:"tx"`               // transaction number (several entries share one only for preload batches)
	ID        int64     `json:"id"`               // transaction_id
	Op        string    `json:"op"`               // insert | update | delete
	Amount    string    `json:"amount"`           // decimal text with 2 places, the state after the change (for delete the deleted row's)
	Currency  string    `json:"currency"`         // after the change
	Category  string    `json:"product_category"` // after the change
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Ledger operations.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
)

// ledgerFlushEvery bounds how stale the ledger file can be while a run is
// going, for readers that follow it live.
const ledgerFlushEvery = 100 * time.Millisecond

// ledger numbers committed changes and appends them to the ledger file.
// Its mutex makes "assign N" and "append the line" one step, so N grows
// strictly along the file.
type ledger struct {
	path string

	mu     sync.Mutex
	f      *os.File // nil: no file, entries are only numbered
	w      *bufio.Writer
	n      int64 // last N given out
	lastTx int64 // highest Tx found in an existing file
	err    error // first write error; sticky, since a lost line cannot be rewritten

	stop, done chan struct{}
}

// openLedger opens path for appending. An existing ledger is continued: N
// and Tx go on from its last line, so a file appended to by several runs
// still replays in order.
func openLedger(path string) (*ledger, error) {
	l := &ledger{path: path}
	if path == "" {
		return l, nil
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		return nil, &ConfigError{fmt.Errorf("ledger %s: directory %s does not exist", path, filepath.Dir(path))}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("ledger: %w", err)}
	}
	last, err := lastEntry(f)
	if err != nil {
		f.Close()
		return nil, &ConfigError{fmt.Errorf("ledger %s: %w", path, err)}
	}
	l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	l.n, l.lastTx = last.N, last.Tx
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.flushLoop()
	return l, nil
}

// lastEntry reads the final line of an existing ledger (zero Entry when the
// file is empty).
func lastEntry(f *os.File) (Entry, error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return Entry{}, err
	}
	const tail = 64 << 10 // far more than one line
	off := max(fi.Size()-tail, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return Entry{}, err
	}
	if buf[len(buf)-1] != '\n' {
		// Appending after a cut line would bury it mid-file. The change it
		// describes was committed but is lost from the ledger, so the file
		// no longer matches the table either way.
		return Entry{}, errors.New("ends with a partial line (an interrupted run?); move it away or use another ledger file")
	}
	line := buf[:len(buf)-1]
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	} else if off > 0 {
		return Entry{}, errors.New("last line is longer than 64 KiB: not a ledger")
	}
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return Entry{}, fmt.Errorf("last line: %w", err)
	}
	return e, nil
}

func (l *ledger) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(ledgerFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			if l.err == nil {
				l.err = l.w.Flush()
			}
			l.mu.Unlock()
		}
	}
}

// append numbers es in order and writes them. Call it only after the
// transaction holding es has committed.
func (l *ledger) append(es []Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range es {
		l.n++
		es[i].N = l.n
		if l.f == nil || l.err != nil {
			continue
		}
		b, err := json.Marshal(&es[i])
		if err != nil {
			l.err = err
			continue
		}
		b = append(b, '\n')
		_, l.err = l.w.Write(b)
	}
	if l.err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, l.err)
	}
	return nil
}

// close flushes, syncs and closes the file.
func (l *ledger) close() error {
	if l.f == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.err
	if err == nil {
		err = l.w.Flush()
	}
	if err == nil {
		err = l.f.Sync()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	return nil
}

// ReadLedger reads a ledger file written by Run.
func ReadLedger(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	var es []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("ledger %s:%d: %w", path, line, err)
		}
		es = append(es, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return es, nil
}
