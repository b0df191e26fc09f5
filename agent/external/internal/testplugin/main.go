// Command testplugin is the plugin binary the external host's tests start:
// one of each kind, with behaviours the tests switch on through its
// configuration (crash once, fail, log), and binaries that break the
// handshake on purpose. Its first argument says which.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testplugin processor|input|output|wrong-version|garbage|exit")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "processor":
		plugin.ServeProcessor(sdk.Registration[sdk.Processor]{Name: "scale", New: func() sdk.Processor { return &scale{core{Factor: 1}} }})
	case "stateless":
		plugin.ServeProcessor(sdk.Registration[sdk.Processor]{Name: "plain", New: func() sdk.Processor { return &core{Factor: 1} }})
	case "input":
		plugin.ServeInput(sdk.Registration[sdk.Input]{Name: "counter", New: func() sdk.Input { return &counter{Batch: 10} }})
	case "output":
		plugin.ServeOutput(sdk.Registration[sdk.Output]{Name: "file", New: func() sdk.Output { return &file{} }})
	case "wrong-version":
		// A plugin built against a future protocol.
		hs := plugin.Handshake
		hs.ProtocolVersion = plugin.ProtocolVersion + 1
		goplugin.Serve(&goplugin.ServeConfig{HandshakeConfig: hs, Plugins: goplugin.PluginSet{},
			GRPCServer: goplugin.DefaultGRPCServer})
	case "garbage":
		// Not a plugin: prints something else where the handshake goes.
		fmt.Println("hello from a program that is not a plugin")
		time.Sleep(time.Minute)
	case "exit":
		fmt.Fprintln(os.Stderr, "cannot open /etc/plugin.conf: no such file")
		os.Exit(3)
	}
}

// crashOnce exits the process the first time it sees its trigger, if the
// marker file exists (it is removed first, so the restarted process goes
// on).
func crashOnce(marker string) {
	if marker == "" {
		return
	}
	if err := os.Remove(marker); err == nil {
		fmt.Fprintln(os.Stderr, "testplugin: crashing on purpose")
		os.Exit(7)
	}
}

// core multiplies the field "v" by Factor and keeps a running sum of what
// it saw, emitted as a field "sum"; scale adds Snapshot/Restore of the sum
// and ticks.
type core struct {
	Factor    float64 `toml:"factor"`
	CrashOn   string  `toml:"crash_on"`   // an event name that triggers crashOnce
	Marker    string  `toml:"marker"`     // the crash marker file
	FailOn    string  `toml:"fail_on"`    // an event name that makes Process fail
	TickEvery string  `toml:"tick_every"` // a duration: tick and emit the sum
	// Unavailable makes Process fail with an error wrapping a gRPC
	// UNAVAILABLE status, as a plugin that is itself a gRPC client might.
	Unavailable bool   `toml:"unavailable"`
	HangOn      string `toml:"hang_on"`      // "snapshot": Snapshot never returns
	CrashOn2    string `toml:"crash_always"` // "restore": Restore always crashes
	CloseLog    string `toml:"close_log"`    // Close appends "closed" to this file

	log   *sdk.Env
	sum   float64
	seen  *sdk.Counter
	every time.Duration
}

func (s *core) Init(env sdk.Env) error {
	if s.Factor == 0 {
		return errors.New("factor: must not be 0")
	}
	if s.TickEvery != "" {
		d, err := time.ParseDuration(s.TickEvery)
		if err != nil {
			return fmt.Errorf("tick_every: %v", err)
		}
		s.every = d
	}
	s.log = &env
	s.seen = env.Counter("seen", "Events the test plugin saw.")
	env.Logger.Info("scale configured", "factor", s.Factor)
	return nil
}

func (s *core) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) {
	for i := range b {
		e := &b[i]
		if e.Name == s.FailOn && s.FailOn != "" {
			return nil, fmt.Errorf("cannot scale event %q", e.Name)
		}
		if s.Unavailable {
			return nil, fmt.Errorf("sink: %w", status.Error(codes.Unavailable, "connection refused"))
		}
		if e.Name == s.CrashOn && s.CrashOn != "" {
			crashOnce(s.Marker)
		}
		if e.Name == "log" {
			s.log.Logger.Warn("asked to log", "n", len(b))
		}
		if v, ok := e.Field("v"); ok {
			var f float64
			switch x := v.(type) {
			case int64:
				f = float64(x)
			case float64:
				f = x
			}
			s.sum += f
			e.SetField("v", f*s.Factor)
			e.SetField("sum", s.sum)
		}
	}
	s.seen.Add(int64(len(b)))
	return b, nil
}

type scale struct{ core }

func (s *core) Close() error {
	if s.CloseLog != "" {
		appendLine(s.CloseLog, "closed")
	}
	return nil
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintln(f, line)
		f.Close()
	}
}

func (s *scale) Snapshot() ([]byte, error) {
	if s.HangOn == "snapshot" {
		select {}
	}
	return []byte(strconv.FormatFloat(s.sum, 'g', -1, 64)), nil
}

func (s *scale) Restore(b []byte) error {
	if s.CrashOn2 == "restore" {
		fmt.Fprintln(os.Stderr, "testplugin: cannot restore")
		os.Exit(7)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("state %q: %v", b, err)
	}
	s.sum = f
	return nil
}

func (s *scale) TickInterval() time.Duration { return s.every }

func (s *scale) Tick(_ context.Context, now time.Time) (sdk.Batch, error) {
	return sdk.Batch{{Name: "tick", Fields: []sdk.Field{{Key: "sum", Value: s.sum}}, Time: now}}, nil
}

// counter emits events n = from+1, from+2, … in batches, with the position
// n encoded as 8 bytes; it stops after Count events.
type counter struct {
	Count   int    `toml:"count"`
	Batch   int    `toml:"batch"`
	CrashAt int    `toml:"crash_at"` // crash once when about to emit this n
	Marker  string `toml:"marker"`
	Durable string `toml:"durable"` // a file CheckpointDurable writes the position to
	Pause   string `toml:"pause"`   // a duration to wait between batches
	// CloseLog gets "run ended" when Run returns (200ms after it is
	// cancelled, as an input finishing a read would) and "closed" at Close.
	CloseLog string `toml:"close_log"`
}

func (c *counter) Close() error {
	if c.CloseLog != "" {
		appendLine(c.CloseLog, "closed")
	}
	return nil
}

func (c *counter) Run(ctx context.Context, from sdk.Position, out sdk.Emitter) error {
	var n uint64
	if len(from) == 8 {
		n = binary.BigEndian.Uint64(from)
	}
	pause, _ := time.ParseDuration(c.Pause)
	if c.CloseLog != "" {
		defer func() {
			time.Sleep(200 * time.Millisecond)
			appendLine(c.CloseLog, "run ended")
		}()
	}
	for int(n) < c.Count {
		var b sdk.Batch
		for len(b) < c.Batch && int(n) < c.Count {
			n++
			if int(n) == c.CrashAt {
				crashOnce(c.Marker)
			}
			b = append(b, sdk.Event{Name: "n", Op: sdk.OpInsert, Fields: []sdk.Field{{Key: "n", Value: int64(n)}}})
		}
		pos := binary.BigEndian.AppendUint64(nil, n)
		if err := out.Emit(ctx, b, pos); err != nil {
			return err
		}
		if pause > 0 {
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (c *counter) CheckpointDurable(_ context.Context, pos sdk.Position) error {
	if c.Durable == "" {
		return nil
	}
	return os.WriteFile(c.Durable, pos, 0o644)
}

// file appends "name n" lines for each event to Path.
type file struct {
	Path    string `toml:"path"`
	CrashOn string `toml:"crash_on"`
	Marker  string `toml:"marker"`
	f       *os.File
}

func (o *file) Init(sdk.Env) error {
	f, err := os.OpenFile(o.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	o.f = f
	return nil
}

func (o *file) Write(_ context.Context, b sdk.Batch) error {
	var buf []byte
	for _, e := range b {
		if e.Name == o.CrashOn {
			crashOnce(o.Marker)
		}
		v, _ := e.Field("n")
		buf = fmt.Appendf(buf, "%s %v\n", e.Name, v)
	}
	_, err := o.f.Write(buf)
	return err
}

func (o *file) Close() error { return o.f.Close() }
