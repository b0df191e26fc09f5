package websocket

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/rowflux/rowflux/sdk"
)

// leakCanary is a value in the published data that no refused client may
// ever see.
const leakCanary = "leak-canary-7f3a"

func canaryBatch() sdk.Batch {
	return sdk.Batch{{Name: "secret_sales", Tags: []sdk.Tag{{Key: "region", Value: leakCanary}},
		Fields: []sdk.Field{{Key: "note", Value: leakCanary}}, Time: t0}}
}

// rawRequest sends one HTTP request on a fresh connection and returns the
// response with its whole body.
func rawRequest(t *testing.T, w *WebSocket, target string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", w.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+w.Addr()+target, nil)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, string(body)
}

func upgradeHeader(extra http.Header) http.Header {
	h := http.Header{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// TestRefusedBeforeUpgrade: a client without the token, with a wrong one,
// from a foreign origin, or not asking for an upgrade is answered with an
// HTTP error before any upgrade: no 101, no frame, nothing of the data and
// not the token in the answer, no client slot kept; a client connected
// all along keeps receiving.
func TestRefusedBeforeUpgrade(t *testing.T) {
	const token = "tok-9d2e"
	w := start(t, nil, func(w *WebSocket) {
		w.AuthToken = token
		w.AllowedOrigins = []string{"https://wall.example.com"}
	})
	write(t, w, canaryBatch()) // in the latest-value state a new client would get
	observer := mustDial(t, wsURL(w, "token="+token), nil)
	if got := read(t, observer); len(got) != 1 || got[0].Tags["region"] != leakCanary {
		t.Fatalf("observer state: %+v", got)
	}
	for i, tc := range []struct {
		name   string
		target string
		hdr    http.Header
		status int
	}{
		{"no token", w.Path, upgradeHeader(nil), http.StatusUnauthorized},
		{"empty token", w.Path + "?token=", upgradeHeader(nil), http.StatusUnauthorized},
		{"wrong token", w.Path + "?token=tok-9d2f", upgradeHeader(nil), http.StatusUnauthorized},
		{"token prefix", w.Path + "?token=tok-9d2", upgradeHeader(nil), http.StatusUnauthorized},
		{"token with suffix", w.Path + "?token=" + token + "x", upgradeHeader(nil), http.StatusUnauthorized},
		{"wrong bearer", w.Path, upgradeHeader(http.Header{"Authorization": {"Bearer nope"}}), http.StatusUnauthorized},
		{"basic scheme", w.Path, upgradeHeader(http.Header{"Authorization": {"Basic " + token}}), http.StatusUnauthorized},
		{"wrong bearer beats right query", w.Path + "?token=" + token, upgradeHeader(http.Header{"Authorization": {"Bearer nope"}}), http.StatusUnauthorized},
		{"foreign origin", w.Path + "?token=" + token, upgradeHeader(http.Header{"Origin": {"https://evil.example.com"}}), http.StatusForbidden},
		{"origin null", w.Path + "?token=" + token, upgradeHeader(http.Header{"Origin": {"null"}}), http.StatusForbidden},
		{"origin on another port", w.Path + "?token=" + token, upgradeHeader(http.Header{"Origin": {"https://wall.example.com:444"}}), http.StatusForbidden},
		{"no token, foreign origin", w.Path, upgradeHeader(http.Header{"Origin": {"https://evil.example.com"}}), http.StatusUnauthorized},
		{"not an upgrade", w.Path + "?token=" + token, nil, http.StatusBadRequest},
		{"dashboard without token", "/", nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRequest(t, w, tc.target, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-Websocket-Accept") != "" {
				t.Fatalf("refused request got upgrade headers: %v", resp.Header)
			}
			if strings.Contains(body, leakCanary) || strings.Contains(body, token) || strings.Contains(body, "secret_sales") {
				t.Fatalf("refusal leaks data or the token: %q", body)
			}
			if tc.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if n := w.hub.clientCount(); n != 1 {
				t.Fatalf("%d clients registered, want only the observer", n)
			}
			if n := reservedCount(w.hub); n != 1 {
				t.Fatalf("%d client slots taken, want only the observer's", n)
			}
			b := batch(100 + i)
			write(t, w, b)
			if got := read(t, observer); len(got) != len(b) || got[2].Fields["p95"] != float64(200+i) {
				t.Fatalf("observer got %+v after the refusal", got)
			}
		})
	}
}

// TestOversizedFrameClosesOnlyThatClient: a frame over max_message_size
// gets close 1009 and the end of that connection; the slot is released,
// and another client keeps receiving before, during and after.
func TestOversizedFrameClosesOnlyThatClient(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.MaxMessageSize = 128 })
	observer := mustDial(t, wsURL(w, ""), nil)
	read(t, observer)
	for round := 0; round < 3; round++ {
		offender := mustDial(t, wsURL(w, ""), nil)
		read(t, offender)
		waitFor(t, "two clients", func() bool { return w.hub.clientCount() == 2 })
		if err := offender.WriteMessage(gws.BinaryMessage, make([]byte, 128)); err != nil {
			t.Fatal(err) // at the limit: read and ignored
		}
		write(t, w, batch(round))
		read(t, offender)
		read(t, observer)
		if err := offender.WriteMessage(gws.TextMessage, []byte(strings.Repeat("x", 129))); err != nil {
			t.Fatal(err)
		}
		_ = offender.SetReadDeadline(time.Now().Add(10 * time.Second))
		var err error
		for err == nil {
			_, _, err = offender.ReadMessage()
		}
		if !gws.IsCloseError(err, gws.CloseMessageTooBig) {
			t.Fatalf("round %d: %v, want close 1009", round, err)
		}
		// The server ends the TCP connection too, not only the WebSocket.
		_ = offender.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := offender.NetConn().Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("round %d: after close 1009 the connection still reads: %v", round, err)
		}
		waitFor(t, "the offender's slot released", func() bool {
			return w.hub.clientCount() == 1 && reservedCount(w.hub) == 1
		})
		write(t, w, batch(10+round))
		if got := read(t, observer); got[2].Fields["p95"] != float64(110+round) {
			t.Fatalf("round %d: observer got %+v", round, got)
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// TestNegativeLengthFrameCloses1009: a frame whose 64-bit length has the
// top bit set is over any limit. gorilla reports it as ErrReadLimit without
// sending a close frame, and the client was told 1000 (normal closure).
func TestNegativeLengthFrameCloses1009(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.MaxMessageSize = 64 })
	for _, hdr := range [][]byte{
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, // length 2^63
		{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
	} {
		frames := exchangeFrames(t, w, hdr)
		if len(frames) == 0 {
			t.Fatalf("% x: no frame from the server", hdr)
		}
		last := frames[len(frames)-1]
		if last.op != gws.CloseMessage || len(last.payload) < 2 || int(last.payload[0])<<8|int(last.payload[1]) != gws.CloseMessageTooBig {
			t.Fatalf("% x: last frame %d %q, want close 1009", hdr, last.op, last.payload)
		}
	}
}

// exchangeFrames is exchange for a test function.
func exchangeFrames(t *testing.T, w *WebSocket, data []byte) []serverFrame {
	t.Helper()
	frames := exchange(t, w, data)
	if len(frames) > 0 && frames[0].op == gws.TextMessage {
		return frames[1:] // the state message
	}
	return frames
}
