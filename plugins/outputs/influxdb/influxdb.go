// Package influxdb is the output that writes events to InfluxDB as line
// protocol over HTTP, through the v1 write API (/write?db=) or the v2 write
// API (/api/v2/write?org=&bucket=), which InfluxDB 1.8+, 2.x and 3.x accept.
//
// The agent buffers, batches and retries; Write makes one attempt per call
// (trying each configured URL in turn) and returns an error to have the
// batch retried. See README.md for the behaviour per HTTP status.
package influxdb

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/encoding"
)

//go:embed sample.conf
var sampleConfig string

func init() {
	sdk.RegisterOutput(sdk.Registration[sdk.Output]{
		Name:         "influxdb",
		Description:  "Write events to InfluxDB (v1 or v2 write API) as line protocol",
		SampleConfig: sampleConfig,
		New:          func() sdk.Output { return New() },
	})
}

var (
	_ sdk.Output      = (*InfluxDB)(nil)
	_ sdk.Initializer = (*InfluxDB)(nil)
	_ sdk.Closer      = (*InfluxDB)(nil)
)

const (
	// maxRetryAfter bounds how long a Retry-After header can hold a write.
	maxRetryAfter = 60 * time.Second
	// maxKeptBuffer is the largest buffer kept between writes, so that one
	// huge batch does not pin its memory for the life of the agent.
	maxKeptBuffer = 16 << 20
	// maxResponseBody is how much of a response body is read for error
	// reporting; the rest is discarded.
	maxResponseBody = 64 << 10
	// maxExcerpt bounds the server text quoted in an error or log message.
	maxExcerpt = 256
	// maxLoggedLines is how many rejected lines a log message quotes.
	maxLoggedLines = 3
)

// Default values, also used by New.
const (
	DefaultURL       = "http://127.0.0.1:8086"
	DefaultTimeout   = 5 * time.Second
	DefaultUserAgent = "rowflux"
)

// InfluxDB writes batches to InfluxDB. Configuration fields are exported
// with TOML tags; everything else is prepared by Init.
type InfluxDB struct {
	// URLs are tried in order, starting from the last one that answered.
	URLs []string `toml:"urls"`
	// API is "v1" or "v2"; empty means v2 when Bucket is set, else v1.
	API string `toml:"api"`

	// v1 settings.
	Database        string `toml:"database"`
	RetentionPolicy string `toml:"retention_policy"`
	Username        string `toml:"username"`
	Password        string `toml:"password"`

	// v2 settings.
	Organization string `toml:"organization"`
	Bucket       string `toml:"bucket"`
	Token        string `toml:"token"`

	Timeout         sdk.Duration `toml:"timeout"`
	ContentEncoding string       `toml:"content_encoding"`
	UserAgent       string       `toml:"user_agent"`

	// mu serialises writes: the encoder and buffers are reused.
	mu        sync.Mutex
	endpoints []endpoint
	preferred int // index of the endpoint that last answered
	client    *http.Client
	transport *http.Transport
	gzip      bool
	secrets   []string // strings scrubbed from every error and log message

	enc  encoding.Encoder
	buf  []byte       // encoded line protocol
	ends []int        // end offset of each line in buf, built only to split
	zbuf bytes.Buffer // gzip-compressed request body
	zw   *gzip.Writer

	log                         *slog.Logger
	skipped, rejected, dropped  *sdk.Counter
	skipLog, rejectLog, dropLog rateLog
	sleep                       func(ctx context.Context, d time.Duration) bool
	now                         func() time.Time
}

// endpoint is one configured URL, prepared for writing.
type endpoint struct {
	write   string // full write URL without userinfo, with the query string
	display string // scheme://host/path: safe to show in errors and logs
	// user and pass come from userinfo in the configured URL; they are used
	// for v1 basic auth when username is not set.
	user, pass string
	hasUser    bool
}

// New returns an output with its defaults set.
func New() *InfluxDB {
	return &InfluxDB{
		URLs:            []string{DefaultURL},
		Timeout:         sdk.Duration(DefaultTimeout),
		ContentEncoding: "gzip",
		UserAgent:       DefaultUserAgent,
	}
}

// Init validates the configuration and prepares the HTTP client, encoder
// and buffers. Error messages name the configuration key at fault and never
// contain a password, token or URL userinfo.
func (p *InfluxDB) Init(env sdk.Env) error {
	p.log = env.Logger
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if env.Counter != nil {
		p.skipped = env.Counter("events_skipped", "events that could not be encoded as line protocol")
		p.rejected = env.Counter("lines_rejected", "lines InfluxDB rejected (400/422: bad line, field type conflict…); not retried")
		p.dropped = env.Counter("lines_dropped", "single lines dropped because InfluxDB answered 413 (too large) even for them alone")
	} else {
		p.skipped, p.rejected, p.dropped = &sdk.Counter{}, &sdk.Counter{}, &sdk.Counter{}
	}
	if p.sleep == nil {
		p.sleep = sdk.Sleep
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, s := range []string{p.Password, p.Token} {
		if s != "" {
			p.secrets = append(p.secrets, s)
		}
	}
	if p.Password != "" {
		p.secrets = append(p.secrets, basicAuth(p.Username, p.Password))
	}

	switch p.API {
	case "":
		p.API = "v1"
		if p.Bucket != "" {
			p.API = "v2"
		}
	case "v1", "v2":
	default:
		return fmt.Errorf("api: must be \"v1\" or \"v2\", got %q", p.API)
	}
	switch p.API {
	case "v1":
		if p.Database == "" {
			return errors.New("database: required for the v1 write API (or set bucket, and organization and token as needed, to use the v2 API)")
		}
		if k := setKeys(map[string]string{"organization": p.Organization, "bucket": p.Bucket, "token": p.Token}); k != "" {
			return fmt.Errorf("%s: only used with the v2 API, but api = \"v1\"", k)
		}
	case "v2":
		if p.Bucket == "" {
			return errors.New("bucket: required for the v2 write API (for InfluxDB 1.8 use \"database/retention_policy\")")
		}
		if k := setKeys(map[string]string{"database": p.Database, "retention_policy": p.RetentionPolicy, "username": p.Username, "password": p.Password}); k != "" {
			return fmt.Errorf("%s: only used with the v1 API, but the v2 API is selected (api = \"v2\" or bucket is set)", k)
		}
	}
	if p.Timeout <= 0 {
		return fmt.Errorf("timeout: must be positive, got %s", p.Timeout)
	}
	switch p.ContentEncoding {
	case "gzip":
		p.gzip = true
	case "identity":
	default:
		return fmt.Errorf("content_encoding: must be \"gzip\" or \"identity\", got %q", p.ContentEncoding)
	}
	if len(p.URLs) == 0 {
		return errors.New("urls: at least one URL is required (for example [\"http://127.0.0.1:8086\"])")
	}
	p.endpoints = p.endpoints[:0]
	for i, raw := range p.URLs {
		ep, err := p.parseEndpoint(raw)
		if err != nil {
			return fmt.Errorf("urls[%d]: %w", i, err)
		}
		p.endpoints = append(p.endpoints, ep)
	}

	enc, err := encoding.New(encoding.FormatInflux)
	if err != nil {
		return err
	}
	p.enc = enc
	if p.gzip {
		// BestSpeed: line protocol compresses well even so, and the default
		// level would cost several times the CPU of encoding.
		p.zw, _ = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	}
	p.transport = http.DefaultTransport.(*http.Transport).Clone()
	p.client = &http.Client{Transport: p.transport, Timeout: time.Duration(p.Timeout)}
	return nil
}

// setKeys returns the names of the non-empty settings, sorted, joined by
// ", ", for an error message.
func setKeys(m map[string]string) string {
	var keys []string
	for _, k := range []string{"database", "retention_policy", "username", "password", "organization", "bucket", "token"} {
		if v, ok := m[k]; ok && v != "" {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, ", ")
}

// parseEndpoint checks a configured URL and builds its write URL. Errors
// never quote the raw URL, which may hold a password.
func (p *InfluxDB) parseEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, errors.New("not a valid URL (want for example \"http://127.0.0.1:8086\")")
	}
	var ep endpoint
	if u.User != nil {
		ep.user = u.User.Username()
		ep.pass, _ = u.User.Password()
		ep.hasUser = true
		if ep.pass != "" {
			p.secrets = append(p.secrets, ep.pass, basicAuth(ep.user, ep.pass))
		}
		if s := u.User.String(); s != "" {
			p.secrets = append(p.secrets, s)
		}
		u.User = nil
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("%q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("%q: no host (want for example \"http://127.0.0.1:8086\")", u.Redacted())
	}
	ep.display = strings.TrimSuffix(u.String(), "/")
	q := url.Values{}
	var path string
	if p.API == "v1" {
		path = "/write"
		q.Set("db", p.Database)
		if p.RetentionPolicy != "" {
			q.Set("rp", p.RetentionPolicy)
		}
	} else {
		path = "/api/v2/write"
		if p.Organization != "" {
			q.Set("org", p.Organization)
		}
		q.Set("bucket", p.Bucket)
	}
	q.Set("precision", "ns")
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	ep.write = u.String()
	return ep, nil
}

// Write encodes the batch and sends it. Events line protocol cannot carry
// are counted (events_skipped) and logged, lines InfluxDB rejects as invalid
// are counted (lines_rejected) and logged: neither is an error, because
// retrying would never succeed. An error means the batch should be retried.
func (p *InfluxDB) Write(ctx context.Context, batch sdk.Batch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enc == nil {
		return errors.New("influxdb: Write called before Init")
	}
	out, skipped := p.enc.Encode(p.buf[:0], batch)
	p.buf = out
	defer p.trimBuffers()
	if skipped > 0 {
		p.skipped.Add(int64(skipped))
		p.skipLog.note(p, int64(skipped), func(n int64) {
			p.log.Warn("events skipped: line protocol cannot represent them", "count", n)
		})
	}
	if len(out) == 0 {
		return nil
	}
	tooLarge, err := p.post(ctx, out, len(batch)-skipped)
	if err != nil || !tooLarge {
		return err
	}
	// 413: find the line boundaries (only now: the common path does not pay
	// for them) and send the batch in halves.
	p.buf, p.ends = p.buf[:0], p.ends[:0]
	for i := range batch {
		p.buf, _ = p.enc.Encode(p.buf, batch[i:i+1])
		if len(p.ends) == 0 && len(p.buf) > 0 || len(p.ends) > 0 && len(p.buf) > p.ends[len(p.ends)-1] {
			p.ends = append(p.ends, len(p.buf))
		}
	}
	return p.split(ctx, 0, len(p.ends))
}

// split sends lines [lo, hi) of p.buf, which the server found too large as
// one request, in two halves, splitting further as needed. A single line
// still too large is dropped.
func (p *InfluxDB) split(ctx context.Context, lo, hi int) error {
	if hi-lo <= 1 {
		if hi-lo == 1 {
			size := p.ends[lo] - p.lineStart(lo)
			p.dropped.Inc()
			p.dropLog.note(p, 1, func(n int64) {
				p.log.Error("line dropped: InfluxDB answered 413 (request entity too large) for it alone",
					"count", n, "bytes", size, "line", p.scrub(excerpt(p.buf[p.lineStart(lo):p.ends[lo]], 120)))
			})
		}
		return nil
	}
	mid := lo + (hi-lo)/2
	for _, r := range [2][2]int{{lo, mid}, {mid, hi}} {
		tooLarge, err := p.post(ctx, p.buf[p.lineStart(r[0]):p.ends[r[1]-1]], r[1]-r[0])
		if err != nil {
			return err
		}
		if tooLarge {
			if err := p.split(ctx, r[0], r[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *InfluxDB) lineStart(i int) int {
	if i == 0 {
		return 0
	}
	return p.ends[i-1]
}

// trimBuffers lets go of buffers a huge batch has grown.
func (p *InfluxDB) trimBuffers() {
	if cap(p.buf) > maxKeptBuffer {
		p.buf = nil
	}
	if cap(p.ends) > maxKeptBuffer/8 {
		p.ends = nil
	}
	if p.zbuf.Cap() > maxKeptBuffer {
		p.zbuf = bytes.Buffer{}
	}
}

// body returns the request body for payload: compressed into the reused
// buffer, or payload itself.
func (p *InfluxDB) body(payload []byte) []byte {
	if !p.gzip {
		return payload
	}
	p.zbuf.Reset()
	p.zw.Reset(&p.zbuf)
	p.zw.Write(payload) // writes to a bytes.Buffer cannot fail
	p.zw.Close()
	return p.zbuf.Bytes()
}

// post sends one request body holding n lines, trying the endpoints in
// turn from the last one that answered. It reports tooLarge on 413 and
// returns an error when the request should be retried later.
func (p *InfluxDB) post(ctx context.Context, payload []byte, n int) (tooLarge bool, err error) {
	body := p.body(payload)
	var (
		failures   []string
		retryAfter time.Duration
	)
	for k := range p.endpoints {
		i := (p.preferred + k) % len(p.endpoints)
		ep := &p.endpoints[i]
		status, hdr, resp, err := p.do(ctx, ep, body)
		if err != nil {
			if ctx.Err() != nil {
				return false, fmt.Errorf("influxdb: %s: %w", ep.display, ctx.Err())
			}
			failures = append(failures, ep.display+": "+p.scrub(err.Error()))
			continue
		}
		switch {
		case status >= 200 && status < 300: // 204 from InfluxDB; any 2xx means accepted
			p.preferred = i
			return false, nil
		case status == http.StatusRequestEntityTooLarge:
			p.preferred = i
			return true, nil
		case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
			p.preferred = i
			p.noteRejected(ep, status, resp, n)
			return false, nil
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return false, fmt.Errorf("influxdb: %s: authentication failed (check token/password): %s%s",
				ep.display, statusText(status), p.bodyExcerpt(resp))
		case status == http.StatusTooManyRequests:
			// Rate limiting applies to the account, not to one URL: waiting
			// is the remedy, not another URL.
			err := fmt.Errorf("influxdb: %s: %s (rate limited)%s", ep.display, statusText(status), p.bodyExcerpt(resp))
			return false, p.wait(ctx, parseRetryAfter(hdr.Get("Retry-After"), p.now()), err)
		case status >= 500:
			if status == http.StatusServiceUnavailable {
				retryAfter = max(retryAfter, parseRetryAfter(hdr.Get("Retry-After"), p.now()))
			}
			failures = append(failures, ep.display+": "+statusText(status)+p.bodyExcerpt(resp))
		default:
			return false, fmt.Errorf("influxdb: %s: %s%s", ep.display, statusText(status), p.bodyExcerpt(resp))
		}
	}
	var err2 error
	if len(failures) == 1 {
		err2 = errors.New("influxdb: " + failures[0])
	} else {
		err2 = fmt.Errorf("influxdb: write failed on all %d URLs: %s", len(failures), strings.Join(failures, "; "))
	}
	return false, p.wait(ctx, retryAfter, err2)
}

// wait holds a failed write for the server's Retry-After (bounded by
// maxRetryAfter and ctx), so that the agent's backoff does not retry
// earlier, then returns err.
func (p *InfluxDB) wait(ctx context.Context, d time.Duration, err error) error {
	if d > 0 {
		p.sleep(ctx, min(d, maxRetryAfter))
	}
	return err
}

// do sends one request and returns the status, headers and the start of
// the response body. The error is a transport error with no URL in it
// (url.Error is unwrapped: the caller names the endpoint safely).
func (p *InfluxDB) do(ctx context.Context, ep *endpoint, body []byte) (int, http.Header, []byte, error) {
	// The transport may still be sending the body after Do returns (a
	// server can answer 413, 401 or 503 before reading it all); the body is
	// a reused buffer, so wait until the transport has closed it.
	tb := &trackedBody{Reader: bytes.NewReader(body), done: make(chan struct{})}
	defer func() {
		if !tb.wait(time.Duration(p.Timeout)) {
			p.abandonBuffers()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.write, tb)
	if err != nil {
		tb.Close()
		return 0, nil, nil, errors.New("cannot build request")
	}
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if p.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if p.UserAgent != "" {
		req.Header.Set("User-Agent", p.UserAgent)
	}
	if p.API == "v2" {
		if p.Token != "" {
			req.Header.Set("Authorization", "Token "+p.Token)
		}
	} else if p.Username != "" || p.Password != "" {
		req.SetBasicAuth(p.Username, p.Password)
	} else if ep.hasUser {
		req.SetBasicAuth(ep.user, ep.pass)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	var b []byte
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		b, _ = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	}
	// Drain a little so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	return resp.StatusCode, resp.Header, b, nil
}

// trackedBody tells when the HTTP transport is done with a request body.
type trackedBody struct {
	*bytes.Reader
	done chan struct{}
	once sync.Once
}

func (b *trackedBody) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}

// wait reports whether the transport closed the body within d. It always
// closes it in the end, after sending it or failing to; a peer that answers
// and then stops reading can make that take long.
func (b *trackedBody) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.done:
		return true
	case <-t.C:
		return false
	}
}

// abandonBuffers leaves the current buffers to a transport that may still
// read them and continues with private copies.
func (p *InfluxDB) abandonBuffers() {
	p.buf = bytes.Clone(p.buf)
	p.zbuf = bytes.Buffer{}
}

// noteRejected counts and logs the lines a 400/422 answer rejected.
func (p *InfluxDB) noteRejected(ep *endpoint, status int, body []byte, n int) {
	r := parseRejection(body, n)
	p.rejected.Add(int64(r.count))
	p.rejectLog.note(p, int64(r.count), func(total int64) {
		args := []any{"count", total, "status", status, "url", ep.display, "error", p.scrub(r.message)}
		for i, l := range r.lines {
			args = append(args, fmt.Sprintf("line%d", i+1), p.scrub(l))
		}
		p.log.Warn("InfluxDB rejected lines; they are not retried (the server wrote the valid lines of the batch)", args...)
	})
}

// bodyExcerpt formats the start of a response body for an error message.
func (p *InfluxDB) bodyExcerpt(b []byte) string {
	msg := strings.TrimSpace(p.scrub(serverMessage(b)))
	if msg == "" {
		return ""
	}
	return ": " + excerpt([]byte(msg), maxExcerpt)
}

// scrub removes every configured secret from s.
func (p *InfluxDB) scrub(s string) string {
	for _, sec := range p.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}

// basicAuth is the credential text of an Authorization: Basic header.
func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("HTTP status %d", code)
}

// Close logs what the rate limits held back and closes idle connections.
func (p *InfluxDB) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log != nil {
		p.skipLog.flush(func(n int64) { p.log.Warn("events skipped: line protocol cannot represent them", "count", n) })
		p.rejectLog.flush(func(n int64) { p.log.Warn("InfluxDB rejected lines; they are not retried", "count", n) })
		p.dropLog.flush(func(n int64) { p.log.Error("lines dropped: InfluxDB answered 413 for each alone", "count", n) })
	}
	if p.transport != nil {
		p.transport.CloseIdleConnections()
	}
	return nil
}

// rateLog logs a kind of problem at a limited rate (sdk.LogThrottle), with
// the count accumulated since the last message.
type rateLog struct{ sdk.LogThrottle }

func (r *rateLog) note(p *InfluxDB, n int64, log func(count int64)) {
	if c := r.Note(p.now(), n); c > 0 {
		log(c)
	}
}

func (r *rateLog) flush(log func(count int64)) {
	if c := r.Flush(); c > 0 {
		log(c)
	}
}
