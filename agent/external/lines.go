package external

import (
	"slices"
	"strings"
	"sync"
)

// lineWriter calls emit for each complete line written to it; a partial
// line waits for its end. It is what the plugin's stdout and stderr pipes
// are written to.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	emit    func(string)
}

// maxLine bounds one line, so that a plugin writing without newlines
// cannot grow the agent's memory.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) > maxLine {
				w.flush()
			}
			break
		}
		w.partial = append(w.partial, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	line := strings.TrimRight(string(w.partial), "\r")
	w.partial = w.partial[:0]
	if line != "" {
		w.emit(line)
	}
}

// tail keeps the last lines a plugin wrote to stderr other than its log
// records (a panic's trace, a log.Fatal message), the first thing to show
// when it dies.
type tail struct {
	lineWriter
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
	// panicLine is the first line of a Go panic or fatal error: the
	// goroutine dump after it pushes it out of the last lines.
	panicLine string
}

const tailLines, tailWidth = 10, 500

func newTail() *tail {
	t := &tail{lines: make([]string, tailLines)}
	t.emit = t.add
	return t
}

func (t *tail) add(line string) {
	if strings.HasPrefix(line, `{"@`) {
		// A log record: the agent's log has it already.
		return
	}
	if len(line) > tailWidth {
		line = line[:tailWidth] + "…"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.panicLine == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		t.panicLine = line
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % len(t.lines)
	if t.next == 0 {
		t.full = true
	}
}

// String returns the kept lines, oldest first, one per line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	if t.full {
		out = append(out, t.lines[t.next:]...)
	}
	out = append(out, t.lines[:t.next]...)
	if t.panicLine != "" && !slices.Contains(out, t.panicLine) {
		out = append([]string{t.panicLine, "…"}, out...)
	}
	return strings.Join(out, "\n")
}
