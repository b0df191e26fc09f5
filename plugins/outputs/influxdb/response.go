package influxdb

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent, invalid or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// errorBody covers the error answers of the InfluxDB versions:
//
//	1.x: {"error":"partial write: field type conflict: … dropped=1"}
//	2.x: {"code":"invalid","message":"partial write error (2 written): unable to parse '…': …"}
//	3.x: {"error":"partial write of line protocol occurred","data":[{"original_line":"…","line_number":2,"error_message":"…"}]}
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Data    []struct {
		OriginalLine string `json:"original_line"`
		ErrorMessage string `json:"error_message"`
	} `json:"data"`
}

// serverMessage returns the error text of a response body: the "error" or
// "message" member of a JSON answer, else the body itself.
func serverMessage(b []byte) string {
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil {
		if eb.Error != "" {
			return eb.Error
		}
		if eb.Message != "" {
			return eb.Message
		}
	}
	return string(b)
}

// rejection is what a 400/422 answer says about the lines it rejected.
type rejection struct {
	count   int      // lines rejected
	message string   // the server's message, shortened
	lines   []string // up to maxLoggedLines rejected lines (or errors), shortened
}

var (
	droppedRe  = regexp.MustCompile(`dropped=(\d+)`)
	writtenRe  = regexp.MustCompile(`partial write error \((\d+) written\)`)
	unparsedRe = regexp.MustCompile(`unable to parse '(.*?)': `)
)

// parseRejection interprets a 400/422 body for a request of n lines. When
// the body does not say how many lines were rejected, all n are counted:
// an upper bound, as the server may have written some of them.
func parseRejection(b []byte, n int) rejection {
	var eb errorBody
	var r rejection
	if json.Unmarshal(b, &eb) == nil && (eb.Error != "" || eb.Message != "" || len(eb.Data) > 0) {
		r.message = eb.Error
		if r.message == "" {
			r.message = eb.Message
		}
	} else {
		r.message = string(b)
	}
	r.message = excerpt([]byte(strings.TrimSpace(r.message)), maxExcerpt)

	switch {
	case len(eb.Data) > 0: // 3.x
		r.count = len(eb.Data)
		for _, d := range eb.Data {
			if len(r.lines) == maxLoggedLines {
				break
			}
			r.lines = append(r.lines, excerpt([]byte(d.OriginalLine), 200)+" ("+excerpt([]byte(d.ErrorMessage), 200)+")")
		}
	default:
		full := eb.Error + eb.Message
		if full == "" {
			full = string(b)
		}
		for _, m := range unparsedRe.FindAllStringSubmatch(full, -1) {
			r.count++
			if len(r.lines) < maxLoggedLines {
				r.lines = append(r.lines, excerpt([]byte(m[1]), 200))
			}
		}
		if ms := droppedRe.FindAllStringSubmatch(full, -1); len(ms) > 0 {
			c := 0
			for _, m := range ms {
				v, _ := strconv.Atoi(m[1])
				c += v
			}
			r.count = max(r.count, c)
		}
		if m := writtenRe.FindStringSubmatch(full); m != nil {
			if w, err := strconv.Atoi(m[1]); err == nil && n-w > 0 {
				r.count = max(r.count, n-w)
			}
		}
		if r.count == 0 {
			r.count = n
		}
	}
	r.count = min(r.count, n)
	return r
}

// excerpt shortens b to at most limit bytes (on a UTF-8 boundary), marking
// the cut with "…".
func excerpt(b []byte, limit int) string {
	if len(b) <= limit {
		return string(b)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…"
}
