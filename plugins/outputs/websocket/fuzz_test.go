package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	gws "github.com/gorilla/websocket"

	"github.com/rowflux/rowflux/sdk"
)

// answer is what the server owes a client for the bytes it sent after the
// handshake (followed by the end of its stream): a pong per ping, in
// order, then a close frame with this code (1005: a close frame without a
// code), then the end of the connection.
type answer struct {
	pongs [][]byte
	close int
	why   string
}

// validCloseCode is RFC 6455's set of codes a peer may send, as
// gorilla/websocket checks it.
func validCloseCode(code int) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013:
		return true
	}
	return code >= 3000 && code <= 4999
}

// expectAnswer reads data as a client's frames, following RFC 6455 as
// gorilla/websocket enforces it on a server without extensions, and with
// the output's rule: a message over limit closes the connection with 1009.
func expectAnswer(data []byte, limit int64) answer {
	var a answer
	end := func(code int, why string) answer { a.close, a.why = code, why; return a }
	pos := 0
	take := func(n int64) ([]byte, bool) {
		if n < 0 || int64(len(data)-pos) < n {
			return nil, false
		}
		b := data[pos : pos+int(n)]
		pos += int(n)
		return b, true
	}
	final := true // no fragmented message open
	var msgLen int64
	for {
		h, ok := take(2)
		if !ok {
			return end(gws.CloseNormalClosure, "end of stream")
		}
		op, fin, masked := h[0]&0x0f, h[0]&0x80 != 0, h[1]&0x80 != 0
		n := int64(h[1] & 0x7f)
		bad := h[0]&0x70 != 0 || !masked // RSV bits without an extension; clients must mask
		switch op {
		case gws.CloseMessage, gws.PingMessage, gws.PongMessage:
			bad = bad || n > 125 || !fin
		case gws.TextMessage, gws.BinaryMessage:
			bad = bad || !final
			final = fin
			msgLen = 0
		case 0: // continuation
			bad = bad || final
			final = fin
		default:
			bad = true
		}
		if bad {
			return end(gws.CloseProtocolError, "bad frame header")
		}
		switch n {
		case 126:
			b, ok := take(2)
			if !ok {
				return end(gws.CloseNormalClosure, "end of stream in length")
			}
			n = int64(binary.BigEndian.Uint16(b))
		case 127:
			b, ok := take(8)
			if !ok {
				return end(gws.CloseNormalClosure, "end of stream in length")
			}
			if n = int64(binary.BigEndian.Uint64(b)); n < 0 {
				return end(gws.CloseMessageTooBig, "negative length")
			}
		}
		key, ok := take(4)
		if !ok {
			return end(gws.CloseNormalClosure, "end of stream in mask")
		}
		if op == 0 || op == gws.TextMessage || op == gws.BinaryMessage {
			if msgLen += n; msgLen < 0 || msgLen > limit {
				return end(gws.CloseMessageTooBig, "message over the limit")
			}
			if _, ok := take(n); !ok {
				return end(gws.CloseNormalClosure, "end of stream in payload")
			}
			continue
		}
		body, ok := take(n)
		if !ok {
			return end(gws.CloseNormalClosure, "end of stream in control payload")
		}
		payload := make([]byte, len(body))
		for i := range body {
			payload[i] = body[i] ^ key[i%4]
		}
		switch op {
		case gws.PingMessage:
			a.pongs = append(a.pongs, payload)
		case gws.CloseMessage:
			if len(payload) < 2 {
				return end(gws.CloseNoStatusReceived, "close without a code")
			}
			code := int(binary.BigEndian.Uint16(payload))
			if !validCloseCode(code) || !utf8.Valid(payload[2:]) {
				return end(gws.CloseProtocolError, "bad close frame")
			}
			return end(code, "client closed")
		}
	}
}

// clientFrame builds a frame as a client sends it (masked unless told not).
func clientFrame(op byte, fin, mask bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); {
	case n <= 125:
		b = []byte{b0, byte(n)}
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16([]byte{b0, 126}, uint16(n))
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 127}, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	b[1] |= 0x80
	key := []byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// serverFrame is one frame the server sent.
type serverFrame struct {
	op      byte
	payload []byte
}

// readServerFrame reads one frame and checks it is one a server may send:
// final (the output never fragments), unmasked, no RSV bits, a known opcode.
func readServerFrame(br *bufio.Reader) (serverFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return serverFrame{}, err
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return serverFrame{}, fmt.Errorf("malformed server frame header % x", h)
	}
	op := h[0] & 0x0f
	switch op {
	case gws.TextMessage, gws.CloseMessage, gws.PingMessage, gws.PongMessage:
	default:
		return serverFrame{}, fmt.Errorf("server frame with opcode %d", op)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return serverFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return serverFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<24 {
		return serverFrame{}, fmt.Errorf("server frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return serverFrame{}, err
	}
	return serverFrame{op, p}, nil
}

// exchange connects with a raw TCP socket, upgrades, sends data, ends its
// half of the stream and returns every frame the server sent until it
// closed the connection.
func exchange(t *testing.T, w *WebSocket, data []byte) []serverFrame {
	t.Helper()
	conn, err := net.DialTimeout("tcp", w.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", w.Path, w.Addr())
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		// The server may close before reading everything: write errors
		// are part of the game.
		_, _ = conn.Write(data)
		_ = conn.(*net.TCPConn).CloseWrite()
	}()
	defer func() { <-sent }()
	var frames []serverFrame
	for {
		fr, err := readServerFrame(br)
		if err != nil {
			// A server closing with unread client bytes resets the
			// connection; what it sent before is still read first.
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				return frames
			}
			t.Fatalf("after %d frames: %v", len(frames), err)
		}
		frames = append(frames, fr)
	}
}

func reservedCount(h *hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reserved
}

// soon polls cond for up to 10 s, at a pace that suits a fuzz loop.
func soon(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// FuzzClientFrames writes arbitrary bytes to the real server as a client's
// frames after a real handshake. The server must answer exactly as RFC 6455
// and the output's limit say (pongs, then one close frame with the right
// code: 1002 for a protocol error, 1009 for a message over
// max_message_size, the client's own code echoed, 1000 when the client's
// stream ends), send only well-formed frames, and end the connection; then
// the client's slot and goroutines are released and a client connected
// all along still receives the next broadcast.
func FuzzClientFrames(f *testing.F) {
	const limit = 64
	w := start(f, nil, func(w *WebSocket) {
		w.MaxMessageSize = limit
		w.PingInterval = sdk.Duration(time.Hour) // no server pings in the transcript
		w.WriteTimeout = sdk.Duration(5 * time.Second)
	})
	observer := mustDial(f, wsURL(w, ""), nil)
	read(f, observer)

	big := bytes.Repeat([]byte("x"), limit+1)
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	for _, seed := range [][]byte{
		nil,
		clientFrame(gws.TextMessage, true, true, []byte("hello")),
		clientFrame(gws.TextMessage, true, true, bytes.Repeat([]byte("y"), limit)),
		clientFrame(gws.TextMessage, true, true, big),
		clientFrame(gws.BinaryMessage, true, true, []byte{0xff, 0}),
		clientFrame(gws.TextMessage, true, true, []byte("\xff\xfe")), // invalid UTF-8: gorilla does not check text
		cat(clientFrame(gws.PingMessage, true, true, []byte("abc")), clientFrame(gws.PingMessage, true, true, nil)),
		clientFrame(gws.PongMessage, true, true, []byte("unsolicited")),
		clientFrame(gws.CloseMessage, true, true, closePayload(1000, "bye")),
		clientFrame(gws.CloseMessage, true, true, closePayload(4999, "")),
		clientFrame(gws.CloseMessage, true, true, []byte{3}),
		clientFrame(gws.CloseMessage, true, true, nil),
		clientFrame(gws.CloseMessage, true, true, closePayload(1005, "")),
		clientFrame(gws.CloseMessage, true, true, closePayload(999, "")),
		clientFrame(gws.CloseMessage, true, true, closePayload(1000, "\xff")),
		clientFrame(gws.PingMessage, true, true, bytes.Repeat([]byte("p"), 126)),
		clientFrame(gws.PingMessage, false, true, nil),
		clientFrame(gws.TextMessage, true, false, []byte("unmasked")),
		clientFrame(gws.TextMessage|0x40, true, true, []byte("rsv1")),
		clientFrame(3, true, true, nil),
		clientFrame(0, true, true, []byte("continuation first")),
		cat(clientFrame(gws.TextMessage, false, true, []byte("part")), clientFrame(gws.TextMessage, true, true, []byte("new"))),
		cat(clientFrame(gws.TextMessage, false, true, big[:40]), clientFrame(gws.PingMessage, true, true, []byte("mid")), clientFrame(0, true, true, big[:40])),
		cat(clientFrame(gws.TextMessage, false, true, big[:10]), clientFrame(0, true, true, big[:10]), clientFrame(gws.TextMessage, true, true, big[:60])),
		{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, // 64-bit length with the top bit set
		{0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, // 2^62 bytes announced
		{0x81, 0xfe, 0, 10, 1, 2, 3, 4, 'a'},                // 16-bit length, stream ends early
		{0x81},                                              // half a header
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),         // HTTP inside the socket
		cat(clientFrame(gws.PingMessage, true, true, []byte("1")), clientFrame(gws.TextMessage, true, true, big)),
	} {
		f.Add(seed)
	}

	seq := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		base := runtime.NumGoroutine()
		want := expectAnswer(data, limit)
		frames := exchange(t, w, data)

		var pongs [][]byte
		closeAt := -1
		for i, fr := range frames {
			switch fr.op {
			case gws.TextMessage:
				var evs []map[string]any
				if err := json.Unmarshal(fr.payload, &evs); err != nil {
					t.Fatalf("text frame is not a JSON array of events: %v: %q", err, fr.payload)
				}
			case gws.PongMessage:
				pongs = append(pongs, fr.payload)
			case gws.PingMessage:
				t.Fatalf("unexpected ping %q", fr.payload)
			case gws.CloseMessage:
				closeAt = i
			}
			if closeAt >= 0 {
				break
			}
		}
		if closeAt < 0 {
			t.Fatalf("%s: the server ended the connection without a close frame (frames: %d)", want.why, len(frames))
		}
		if closeAt != len(frames)-1 {
			t.Fatalf("%d frames after the close frame", len(frames)-1-closeAt)
		}
		code := gws.CloseNoStatusReceived
		if p := frames[closeAt].payload; len(p) >= 2 {
			code = int(binary.BigEndian.Uint16(p))
		} else if len(p) == 1 {
			t.Fatalf("close frame with a one-byte payload")
		}
		if code != want.close {
			t.Fatalf("%s: close code %d (%q), want %d", want.why, code, frames[closeAt].payload, want.close)
		}
		if len(pongs) != len(want.pongs) {
			t.Fatalf("%d pongs, want %d", len(pongs), len(want.pongs))
		}
		for i := range pongs {
			if !bytes.Equal(pongs[i], want.pongs[i]) {
				t.Fatalf("pong %d: %q, want %q", i, pongs[i], want.pongs[i])
			}
		}

		soon(t, "the client's slot to be released", func() bool {
			return w.hub.clientCount() == 1 && reservedCount(w.hub) == 1
		})
		seq++
		write(t, w, batch(seq))
		evs := read(t, observer)
		if len(evs) != 3 || evs[2].Fields["p95"] != float64(100+seq) {
			t.Fatalf("observer got %+v, want batch %d", evs, seq)
		}
		soon(t, "goroutines to return", func() bool { return runtime.NumGoroutine() <= base })
	})
}
