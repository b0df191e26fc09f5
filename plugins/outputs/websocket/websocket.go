// Package websocket is the output that serves events to WebSocket clients
// and a self-contained live dashboard.
//
// Each batch written to the output becomes one text message, a JSON array of
// event objects in the shape of the stdout output's JSON lines. A client
// first receives the latest event of every series (name + tag set) as one
// message, then every batch as it is written. Every client has a bounded
// queue; a client that cannot keep up is disconnected instead of slowing
// down the writer or the other clients.
package websocket

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/encoding"
)

//go:embed sample.conf
var sampleConfig string

//go:embed dashboard.html
var dashboardHTML string

func init() {
	sdk.RegisterOutput(sdk.Registration[sdk.Output]{
		Name:         "websocket",
		Description:  "Serve events to WebSocket clients and a live dashboard",
		SampleConfig: sampleConfig,
		New:          func() sdk.Output { return New() },
	})
}

var (
	_ sdk.Output      = (*WebSocket)(nil)
	_ sdk.Initializer = (*WebSocket)(nil)
	_ sdk.Closer      = (*WebSocket)(nil)
)

// Defaults of the configuration.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultPath           = "/ws"
	DefaultClientQueue    = 64
	DefaultMaxSeries      = 10000
	DefaultMaxClients     = 1000
	DefaultMaxMessageSize = 4096
	DefaultPingInterval   = 20 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
)

// Close codes and reasons sent to clients.
const (
	closeTooSlow   = gws.ClosePolicyViolation // 1008
	reasonTooSlow  = "too slow"
	closeShutdown  = gws.CloseGoingAway // 1001
	reasonShutdown = "server shutting down"
)

// closeFrameTimeout bounds the wait for a close frame to go out.
const closeFrameTimeout = time.Second

// WebSocket is the output. Its exported fields are the configuration.
type WebSocket struct {
	// Listen is the address of the HTTP server; ":0" picks a free port.
	Listen string `toml:"listen"`
	// Path is where WebSocket clients connect; the dashboard is at "/".
	Path string `toml:"path"`
	// AuthToken, when set, is required as "Authorization: Bearer TOKEN" or
	// "?token=TOKEN" on every request.
	AuthToken string `toml:"auth_token"`
	// AllowedOrigins lists the browser origins (scheme://host[:port]) allowed
	// besides the server's own. Requests without an Origin header (not from
	// a browser) are always allowed.
	AllowedOrigins []string `toml:"allowed_origins"`
	// TLSCert and TLSKey are PEM files; with both set the server speaks HTTPS
	// and WSS.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// ClientQueue is how many messages may wait for one client before it is
	// disconnected as too slow.
	ClientQueue int `toml:"client_queue"`
	// MaxSeries bounds the latest-value state sent to new clients; beyond it
	// the series updated least recently are forgotten.
	MaxSeries int `toml:"max_series"`
	// MaxClients bounds concurrent WebSocket clients; more get HTTP 503.
	MaxClients int `toml:"max_clients"`
	// MaxMessageSize is the largest frame a client may send (clients have
	// nothing to say; a larger frame closes the connection).
	MaxMessageSize int64 `toml:"max_message_size"`
	// PingInterval is how often clients are pinged; a client that has not
	// answered within PingInterval+WriteTimeout is disconnected.
	PingInterval sdk.Duration `toml:"ping_interval"`
	// WriteTimeout bounds every write to a client.
	WriteTimeout sdk.Duration `toml:"write_timeout"`

	// sendBuffer, when positive, sets SO_SNDBUF of every client socket. Tests
	// use it so that a stalled client blocks its writer after kilobytes
	// rather than the megabytes Linux would buffer.
	sendBuffer int

	log         *slog.Logger
	dropped     *sdk.Counter
	evicted     *sdk.Counter
	rejected    *sdk.Counter
	tlsConfig   *tls.Config
	page        []byte // the dashboard with the socket path filled in
	csp         string
	upgrader    gws.Upgrader
	origins     map[string]bool
	readTimeout time.Duration

	// writeMu serialises Write: the encoder and its buffer are reused.
	writeMu sync.Mutex
	enc     encoding.Encoder
	// sizeHint is the length of the last message, to size the next.
	sizeHint int

	hub *hub

	srvMu    sync.Mutex
	srv      *http.Server
	ln       net.Listener
	serveErr chan error
	closed   bool
	handlers sync.WaitGroup // one per WebSocket connection
}

// New returns the output with its defaults set.
func New() *WebSocket {
	return &WebSocket{
		Listen:         DefaultListen,
		Path:           DefaultPath,
		ClientQueue:    DefaultClientQueue,
		MaxSeries:      DefaultMaxSeries,
		MaxClients:     DefaultMaxClients,
		MaxMessageSize: DefaultMaxMessageSize,
		PingInterval:   sdk.Duration(DefaultPingInterval),
		WriteTimeout:   sdk.Duration(DefaultWriteTimeout),
	}
}

// Init validates the configuration and starts the server.
func (w *WebSocket) Init(env sdk.Env) error {
	if err := w.validate(); err != nil {
		return err
	}
	w.log = env.Logger
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	counter := env.Counter
	if counter == nil {
		counter = func(string, string) *sdk.Counter { return &sdk.Counter{} }
	}
	w.dropped = counter("clients_dropped", "clients disconnected because their queue was full (too slow)")
	w.evicted = counter("series_evicted", "series forgotten from the latest-value state because max_series was reached")
	w.rejected = counter("clients_rejected", "connections refused with HTTP 503 because max_clients was reached")

	enc, err := encoding.New(encoding.FormatJSON)
	if err != nil {
		return err
	}
	w.enc = enc
	w.origins = make(map[string]bool, len(w.AllowedOrigins))
	for _, o := range w.AllowedOrigins {
		w.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	w.readTimeout = time.Duration(w.PingInterval) + time.Duration(w.WriteTimeout)
	w.upgrader = gws.Upgrader{
		HandshakeTimeout: time.Duration(w.WriteTimeout),
		WriteBufferPool:  &sync.Pool{},
		// The origin is checked before the upgrade, to answer 403 before a
		// client slot is taken.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	w.page, w.csp = buildPage(w.Path)
	w.hub = newHub(w.ClientQueue, w.MaxSeries, w.dropped, w.evicted, w.log)

	if w.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(w.TLSCert, w.TLSKey)
		if err != nil {
			return fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		w.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return w.start()
}

func (w *WebSocket) validate() error {
	switch {
	case w.Listen == "":
		return errors.New("listen: must not be empty (example: \"127.0.0.1:8080\")")
	case !strings.HasPrefix(w.Path, "/") || w.Path == "/":
		return fmt.Errorf("path %q: must start with \"/\" and differ from \"/\" (the dashboard)", w.Path)
	case w.ClientQueue < 1:
		return fmt.Errorf("client_queue = %d: must be at least 1", w.ClientQueue)
	case w.MaxSeries < 0:
		return fmt.Errorf("max_series = %d: must not be negative (0 disables the latest-value state)", w.MaxSeries)
	case w.MaxClients < 1:
		return fmt.Errorf("max_clients = %d: must be at least 1", w.MaxClients)
	case w.MaxMessageSize < 1:
		return fmt.Errorf("max_message_size = %d: must be at least 1", w.MaxMessageSize)
	case w.PingInterval <= 0:
		return fmt.Errorf("ping_interval = %s: must be positive", w.PingInterval)
	case w.WriteTimeout <= 0:
		return fmt.Errorf("write_timeout = %s: must be positive", w.WriteTimeout)
	case (w.TLSCert == "") != (w.TLSKey == ""):
		return errors.New("tls_cert and tls_key: set both or neither")
	}
	for _, o := range w.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("allowed_origins: %q is not an origin (example: \"https://wall.example.com\")", o)
		}
	}
	return nil
}

func (w *WebSocket) start() error {
	ln, err := net.Listen("tcp", w.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", w.Listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", w.serveDashboard)
	mux.HandleFunc(w.Path, w.serveSocket)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelDebug),
	}
	if w.tlsConfig != nil {
		srv.TLSConfig = w.tlsConfig
		ln = tls.NewListener(ln, w.tlsConfig)
	}
	w.srvMu.Lock()
	w.srv, w.ln = srv, ln
	w.serveErr = make(chan error, 1)
	w.srvMu.Unlock()
	go func() { w.serveErr <- srv.Serve(ln) }()
	w.log.Info("websocket output listening", "addr", ln.Addr().String(), "path", w.Path, "tls", w.tlsConfig != nil)
	return nil
}

// Addr is the address the server listens on ("" before Init), with the real
// port when Listen asked for port 0.
func (w *WebSocket) Addr() string {
	w.srvMu.Lock()
	defer w.srvMu.Unlock()
	if w.ln == nil {
		return ""
	}
	return w.ln.Addr().String()
}

// Write broadcasts the batch to every connected client as one message and
// records the latest event of each series. It only enqueues: a slow client
// is disconnected rather than waited for.
func (w *WebSocket) Write(_ context.Context, batch sdk.Batch) error {
	if len(batch) == 0 {
		return nil
	}
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	if w.hub == nil {
		return errors.New("websocket: Write called before Init")
	}
	// The message is "[obj,obj,…]"; each object is also kept as the latest
	// value of its series. The encoder ends every object with '\n', which
	// never occurs inside one (JSON strings escape control characters).
	// A new slice each time: the prepared message keeps it.
	msg := make([]byte, 0, max(w.sizeHint, 64))
	msg = append(msg, '[')
	spans := make([]span, len(batch))
	for i := range batch {
		start := len(msg)
		msg, _ = w.enc.Encode(msg, batch[i:i+1])
		end := len(msg) - 1
		msg[end] = ','
		spans[i] = span{start, end}
	}
	msg[len(msg)-1] = ']'
	w.sizeHint = len(msg) + len(msg)/8
	pm, err := gws.NewPreparedMessage(gws.TextMessage, msg)
	if err != nil {
		return fmt.Errorf("websocket: %w", err)
	}
	return w.hub.publish(batch, msg, spans, pm)
}

type span struct{ start, end int }

// Close stops the server and disconnects every client with a close frame.
func (w *WebSocket) Close() error {
	w.srvMu.Lock()
	if w.closed || w.srv == nil {
		w.closed = true
		w.srvMu.Unlock()
		return nil
	}
	w.closed = true
	srv := w.srv
	w.srvMu.Unlock()

	// Stop accepting first, so no client registers after the hub closes.
	err := srv.Close()
	w.hub.close()
	done := make(chan struct{})
	go func() { w.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(w.WriteTimeout) + 2*closeFrameTimeout):
		w.log.Warn("websocket output: clients still connected after shutdown timeout")
	}
	if serr := <-w.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// authorized reports whether the request carries the token, when one is
// configured.
func (w *WebSocket) authorized(r *http.Request) bool {
	if w.AuthToken == "" {
		return true
	}
	got := r.URL.Query().Get("token")
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			got = strings.TrimSpace(tok)
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(w.AuthToken)) == 1
}

// originAllowed accepts requests without an Origin header (non-browser
// clients), from the server's own origin, and from allowed_origins.
func (w *WebSocket) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if w.origins[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func (w *WebSocket) serveSocket(rw http.ResponseWriter, r *http.Request) {
	if !w.authorized(r) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="rowflux"`)
		http.Error(rw, "401 unauthorized: a token is required (Authorization: Bearer TOKEN or ?token=TOKEN)", http.StatusUnauthorized)
		return
	}
	if !w.originAllowed(r) {
		http.Error(rw, "403 forbidden: origin not allowed", http.StatusForbidden)
		return
	}
	if !gws.IsWebSocketUpgrade(r) {
		http.Error(rw, "400 bad request: this is a WebSocket endpoint", http.StatusBadRequest)
		return
	}
	if !w.hub.reserve(w.MaxClients) {
		w.rejected.Inc()
		rw.Header().Set("Retry-After", "10")
		http.Error(rw, "503 service unavailable: too many clients", http.StatusServiceUnavailable)
		return
	}
	w.srvMu.Lock()
	if w.closed {
		w.srvMu.Unlock()
		w.hub.release()
		http.Error(rw, "503 service unavailable: shutting down", http.StatusServiceUnavailable)
		return
	}
	w.handlers.Add(1)
	w.srvMu.Unlock()
	defer w.handlers.Done()
	defer w.hub.release()

	conn, err := w.upgrader.Upgrade(rw, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	if tc, ok := conn.NetConn().(*net.TCPConn); ok && w.sendBuffer > 0 {
		_ = tc.SetWriteBuffer(w.sendBuffer)
	}
	c := &client{conn: conn, send: make(chan *gws.PreparedMessage, w.ClientQueue), kick: make(chan struct{}), done: make(chan struct{})}
	if !w.hub.register(c) {
		_ = conn.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(closeShutdown, reasonShutdown), time.Now().Add(closeFrameTimeout))
		conn.Close()
		return
	}
	go w.writeLoop(c)

	conn.SetReadLimit(w.MaxMessageSize)
	_ = conn.SetReadDeadline(time.Now().Add(w.readTimeout))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(w.readTimeout)) })
	code := gws.CloseNormalClosure
	for {
		// Clients have nothing to say; what they send is read and dropped.
		if _, _, err := conn.ReadMessage(); err != nil {
			// gorilla answers a frame over the limit with 1009 itself, but
			// not one whose 64-bit length is negative (or whose message
			// length overflows): that client would be told "normal
			// closure". When gorilla has sent its close frame, the writer's
			// is refused (ErrCloseSent), so no client gets two.
			if errors.Is(err, gws.ErrReadLimit) {
				code = gws.CloseMessageTooBig
			}
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(w.readTimeout))
	}
	w.hub.unregister(c, code, "")
	<-c.done
}

// writeLoop is the only writer of a connection (besides WriteControl, which
// gorilla allows concurrently). It closes the connection when it returns,
// which ends the read loop.
func (w *WebSocket) writeLoop(c *client) {
	defer close(c.done)
	defer c.conn.Close()
	wt := time.Duration(w.WriteTimeout)
	ping := time.NewTicker(time.Duration(w.PingInterval))
	defer ping.Stop()
	for {
		select {
		case <-c.kick:
			_ = c.conn.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(c.closeCode, c.closeReason),
				time.Now().Add(min(wt, closeFrameTimeout)))
			return
		case pm := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(wt))
			if err := c.conn.WritePreparedMessage(pm); err != nil {
				w.hub.unregister(c, gws.CloseNormalClosure, "")
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(gws.PingMessage, nil, time.Now().Add(wt)); err != nil {
				w.hub.unregister(c, gws.CloseNormalClosure, "")
				return
			}
		}
	}
}

func (w *WebSocket) serveDashboard(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		http.Error(rw, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !w.authorized(r) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="rowflux"`)
		http.Error(rw, "401 unauthorized: open the dashboard as /?token=TOKEN", http.StatusUnauthorized)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", w.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the URL may carry the token
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = rw.Write(w.page)
	}
}

// buildPage fills the socket path into the dashboard and derives a
// Content-Security-Policy that allows exactly its inline script and style
// (by hash), connections to its own origin and nothing else.
func buildPage(path string) (page []byte, csp string) {
	p := strings.Replace(dashboardHTML, "{{WS_PATH}}", html.EscapeString(path), 1)
	hashOf := func(open, closing string) string {
		_, rest, ok := strings.Cut(p, open)
		if !ok {
			return ""
		}
		body, _, _ := strings.Cut(rest, closing)
		sum := sha256.Sum256([]byte(body))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp = "default-src 'none'; script-src " + hashOf("<script>", "</script>") +
		"; style-src " + hashOf("<style>", "</style>") +
		"; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return []byte(p), csp
}
