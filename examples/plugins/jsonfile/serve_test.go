package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/status"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// startPlugin builds this package and starts it the way an agent does,
// returning the output's client.
func startPlugin(t *testing.T) pluginv1.OutputClient {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts the plugin binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build the plugin with")
	}
	bin := filepath.Join(t.TempDir(), "jsonfile")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		Plugins:          plugin.HostPlugins(),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
		StartTimeout:     30 * time.Second,
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("starting the plugin: %v", err)
	}
	raw, err := rpc.Dispense(plugin.NameOutput)
	if err != nil {
		t.Fatalf("dispensing the output: %v", err)
	}
	return raw.(pluginv1.OutputClient)
}

// TestServeOutOfProcess runs the built binary: the README's promise that
// main.go is all it takes to serve the same code out of process.
func TestServeOutOfProcess(t *testing.T) {
	oc := startPlugin(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.jsonl")

	cr, err := oc.Configure(ctx, &pluginv1.ConfigureRequest{ConfigToml: pathConf(path) + "fsync = true\n", LogLevel: "info"})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if cr.PluginName != "jsonfile" || len(cr.Counters) != 1 || cr.Counters[0].Name != "bytes_written" {
		t.Errorf("Configure response %v: want plugin jsonfile with counter bytes_written", cr)
	}
	var counts []int64
	for _, b := range []sdk.Batch{batch1, batch2} {
		resp, err := oc.Write(ctx, &pluginv1.Batch{Events: mustEncode(t, b)})
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		counts = resp.Counts.GetValues()
	}
	want := joinLines(lines1, lines2)
	if got := readFile(t, path); got != want {
		t.Errorf("file holds\n%s\nwant\n%s", got, want)
	}
	if !reflect.DeepEqual(counts, []int64{int64(len(want))}) {
		t.Errorf("counts %v, want [%d] (bytes_written)", counts, len(want))
	}
	if _, err := oc.Close(ctx, &pluginv1.Empty{}); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestServeConfigErrors: a configuration error reaches the agent as Init
// wrote it.
func TestServeConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{`fsync = false`, "path: required"},
		{`path = "/tmp/x"` + "\nappend = true", "config: unknown key(s) append"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			oc := startPlugin(t)
			_, err := oc.Configure(context.Background(), &pluginv1.ConfigureRequest{ConfigToml: tc.conf})
			if err == nil {
				t.Fatal("Configure succeeded")
			}
			if got := status.Convert(err).Message(); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}

func mustEncode(t *testing.T, b sdk.Batch) []byte {
	t.Helper()
	data, err := pluginv1.AppendEvents(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
