package websocket

import (
	"container/list"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/rowflux/rowflux/sdk"
)

// client is one WebSocket connection. Its writer goroutine owns conn for
// writing; the hub only enqueues messages and, to disconnect it, closes kick.
type client struct {
	conn *gws.Conn
	send chan *gws.PreparedMessage
	kick chan struct{} // closed by the hub: send a close frame and stop
	done chan struct{} // closed when the writer has returned

	// Set under hub.mu before kick is closed; read by the writer after.
	kicked      bool
	closeCode   int
	closeReason string
}

// seriesState is the latest event of one series, already encoded.
type seriesState struct {
	key  string
	json []byte
}

// hub holds the connected clients and the latest value of every series.
// Publishing and registering happen under one lock, so a new client gets
// the state as of some batch and then exactly the batches after it.
type hub struct {
	mu       sync.Mutex
	clients  map[*client]struct{}
	reserved int // connections admitted, upgraded or not
	closed   bool

	queue     int
	maxSeries int
	series    map[string]*list.Element // of *seriesState
	order     *list.List               // least recently updated first
	key       []byte                   // scratch for series keys
	tags      []sdk.Tag                // scratch for unsorted tags

	dropped, evicted *sdk.Counter
	log              *slog.Logger
	// Drops and evictions can come in bursts: one log line per interval.
	dropLog, evictLog sdk.LogThrottle
}

func newHub(queue, maxSeries int, dropped, evicted *sdk.Counter, log *slog.Logger) *hub {
	return &hub{
		clients: map[*client]struct{}{}, queue: queue, maxSeries: maxSeries,
		series: map[string]*list.Element{}, order: list.New(),
		dropped: dropped, evicted: evicted, log: log,
	}
}

var errClosed = errors.New("websocket: output is closed")

// publish records the latest value of each event's series and enqueues the
// message for every client. msg[s.start:s.end] is the JSON of batch[i].
func (h *hub) publish(batch sdk.Batch, msg []byte, spans []span, pm *gws.PreparedMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errClosed
	}
	now := time.Now()
	if h.maxSeries > 0 {
		evicted := int64(0)
		for i := range batch {
			evicted += h.remember(&batch[i], msg[spans[i].start:spans[i].end])
		}
		if evicted > 0 {
			h.evicted.Add(evicted)
			h.logEvicted(h.evictLog.Note(now, evicted))
		}
	}
	var dropped int64
	var remote string
	for c := range h.clients {
		select {
		case c.send <- pm:
		default:
			delete(h.clients, c)
			h.kickLocked(c, closeTooSlow, reasonTooSlow)
			dropped++
			remote = c.conn.RemoteAddr().String()
		}
	}
	if dropped > 0 {
		h.dropped.Add(dropped)
		h.logDropped(h.dropLog.Note(now, dropped), remote)
	}
	return nil
}

func (h *hub) logDropped(n int64, remote string) {
	if n > 0 {
		h.log.Warn("websocket clients disconnected: too slow to keep up",
			"count", n, "client_queue", h.queue, "last_remote", remote)
	}
}

func (h *hub) logEvicted(n int64) {
	if n > 0 {
		h.log.Warn("series forgotten from the latest-value state: max_series reached",
			"count", n, "max_series", h.maxSeries)
	}
}

// remember makes obj the latest value of ev's series and returns how many
// series it evicted to stay within maxSeries.
func (h *hub) remember(ev *sdk.Event, obj []byte) (evicted int64) {
	h.key = seriesKey(h.key[:0], ev, &h.tags)
	if e, ok := h.series[string(h.key)]; ok { // no allocation for the lookup
		s := e.Value.(*seriesState)
		s.json = append(s.json[:0], obj...)
		h.order.MoveToBack(e)
		return 0
	}
	s := &seriesState{key: string(h.key), json: slices.Clone(obj)}
	h.series[s.key] = h.order.PushBack(s)
	for len(h.series) > h.maxSeries {
		oldest := h.order.Front()
		delete(h.series, oldest.Value.(*seriesState).key)
		h.order.Remove(oldest)
		evicted++
	}
	return evicted
}

// seriesKey identifies a series by name and tag set. Every part is length
// prefixed, so no choice of names and values can make two series collide.
func seriesKey(dst []byte, ev *sdk.Event, scratch *[]sdk.Tag) []byte {
	tags := ev.Tags
	if !slices.IsSortedFunc(tags, func(a, b sdk.Tag) int { return strings.Compare(a.Key, b.Key) }) {
		*scratch = append((*scratch)[:0], tags...)
		sdk.SortTags(*scratch)
		tags = *scratch
	}
	add := func(s string) {
		dst = strconv.AppendInt(dst, int64(len(s)), 10)
		dst = append(dst, ':')
		dst = append(dst, s...)
	}
	add(ev.Name)
	for _, t := range tags {
		add(t.Key)
		add(t.Value)
	}
	return dst
}

// snapshotLocked is the latest event of every series as one JSON array,
// least recently updated first.
func (h *hub) snapshotLocked() []byte {
	n := 2
	for e := h.order.Front(); e != nil; e = e.Next() {
		n += len(e.Value.(*seriesState).json) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for e := h.order.Front(); e != nil; e = e.Next() {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, e.Value.(*seriesState).json...)
	}
	return append(out, ']')
}

// reserve admits one more connection unless limit are already admitted.
func (h *hub) reserve(limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reserved >= limit {
		return false
	}
	h.reserved++
	return true
}

func (h *hub) release() {
	h.mu.Lock()
	h.reserved--
	h.mu.Unlock()
}

// register queues the current state as the client's first message and adds
// it to the broadcast. It reports false once the hub is closed.
func (h *hub) register(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	pm, err := gws.NewPreparedMessage(gws.TextMessage, h.snapshotLocked())
	if err != nil { // only fails for invalid message types
		return false
	}
	c.send <- pm // the queue is empty and holds at least one message
	h.clients[c] = struct{}{}
	return true
}

// unregister removes the client and tells its writer to stop.
func (h *hub) unregister(c *client, code int, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	h.kickLocked(c, code, reason)
}

func (h *hub) kickLocked(c *client, code int, reason string) {
	if c.kicked {
		return
	}
	c.kicked, c.closeCode, c.closeReason = true, code, reason
	close(c.kick)
}

// close disconnects every client; later publishes fail.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.logDropped(h.dropLog.Flush(), "")
	h.logEvicted(h.evictLog.Flush())
	for c := range h.clients {
		delete(h.clients, c)
		h.kickLocked(c, closeShutdown, reasonShutdown)
	}
}

// clientCount is the number of registered clients.
func (h *hub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// seriesCount is the number of series in the latest-value state.
func (h *hub) seriesCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.series)
}
