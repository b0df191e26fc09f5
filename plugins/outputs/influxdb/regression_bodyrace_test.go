package influxdb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rowflux/rowflux/sdk"
)

// A server that answers 413 without reading the body (as a proxy with a
// body-size limit does) makes net/http return from Client.Do while its
// writer goroutine is still reading the request body. Write then re-encodes
// p.buf (identity) in place for the split: a data race on the buffer the
// transport is still sending from. Run with -race.
func TestBodyNotReusedWhileTransportStillReads(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusRequestEntityTooLarge) // body not read
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	h := newPlugin(t, false, func(p *InfluxDB) { v1(srv.URL)(p); p.ContentEncoding = "identity" })
	var batch sdk.Batch
	pad := strings.Repeat("x", 1000)
	for i := 0; i < 8000; i++ { // ~8 MB: far more than the socket buffers
		batch = append(batch, sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "i", Value: int64(i)}, {Key: "s", Value: pad}}, Time: commitTime})
	}
	if err := h.p.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}
