//go:build unix

package websocket

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// BenchmarkBroadcast sends one 50-event message to 1,000 loopback clients
// per iteration and waits until every client has read it. ns/op is the time
// per broadcast; ns/client divides it by the clients; cpu-ns/client is the
// process CPU time (user+system, server and the in-process clients
// together) per delivered message. Run with -cpu 1.
func BenchmarkBroadcast(b *testing.B) {
	const clients = 1000
	w := start(b, nil, func(w *WebSocket) { w.MaxClients = clients })
	var remaining atomic.Int64
	done := make(chan struct{}, 1)
	for i := 0; i < clients; i++ {
		conn := mustDial(b, wsURL(w, ""), nil)
		go func() {
			for {
				_, r, err := conn.NextReader()
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					return
				}
				if remaining.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		}()
	}
	waitFor(b, "clients registered", func() bool { return w.hub.clientCount() == clients })
	// Let every client take its state message before counting.
	time.Sleep(200 * time.Millisecond)

	batch := make(sdk.Batch, 50)
	for i := range batch {
		batch[i] = sdk.Event{
			Name: "sales", Op: sdk.OpInsert,
			Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "region", Value: fmt.Sprint("r", i%10)}},
			Fields: []sdk.Field{{Key: "amount", Value: 1234.5 + float64(i)}, {Key: "n", Value: int64(i)}, {Key: "sku", Value: "BK-0042"}},
			Time:   t0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	msg, _ := w.enc.Encode(nil, batch)
	b.SetBytes(int64(len(msg)) * clients)

	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		remaining.Store(clients)
		if err := w.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatalf("broadcast %d: %d clients still waiting after a minute", i, remaining.Load())
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/clients, "ns/client")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/clients, "cpu-ns/client")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
