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
// returning the processor's client.
func startPlugin(t *testing.T) pluginv1.ProcessorClient {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts the plugin binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build the plugin with")
	}
	bin := filepath.Join(t.TempDir(), "currency")
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
	raw, err := rpc.Dispense(plugin.NameProcessor)
	if err != nil {
		t.Fatalf("dispensing the processor: %v", err)
	}
	return raw.(pluginv1.ProcessorClient)
}

// TestServeOutOfProcess runs the built binary: the README's promise that
// main.go is all it takes to serve the same code out of process.
func TestServeOutOfProcess(t *testing.T) {
	pc := startPlugin(t)
	ctx := context.Background()

	cr, err := pc.Configure(ctx, &pluginv1.ConfigureRequest{ConfigToml: `on_unknown = "drop"` + rates, LogLevel: "info"})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if cr.PluginName != "currency" || cr.Stateful {
		t.Errorf("Configure response %v: want plugin currency, not stateful", cr)
	}
	var names []string
	for _, c := range cr.Counters {
		names = append(names, c.Name)
	}
	if want := []string{"converted", "unknown_currency", "skipped"}; !reflect.DeepEqual(names, want) {
		t.Errorf("counters %q, want %q", names, want)
	}

	in := sdk.Batch{
		sale(sdk.OpInsert, cur("USD"), f("amount", int64(100))),
		sale(sdk.OpInsert, nil, f("amount", 12.34), f("currency", "GBP")),
		sale(sdk.OpInsert, cur("JPY"), f("amount", int64(1000))),
		sale(sdk.OpInsert, cur("USD")),
		sale(sdk.OpDelete, cur("JPY"), f("amount", int64(1))),
	}
	data, err := pluginv1.AppendEvents(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := pc.Process(ctx, &pluginv1.Batch{Events: data})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	got, err := pluginv1.DecodeEvents(resp.Batch.GetEvents())
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Batch{
		sale(sdk.OpInsert, cur("USD"), f("amount", int64(100)), f("amount_eur", mul(100, 0.92))),
		sale(sdk.OpInsert, nil, f("amount", 12.34), f("currency", "GBP"), f("amount_eur", mul(12.34, 1.17))),
		sale(sdk.OpInsert, cur("USD")),
		sale(sdk.OpDelete, cur("JPY"), f("amount", int64(1))),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if got, want := resp.Counts.GetValues(), []int64{2, 1, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("counts %v, want %v (converted, unknown_currency, skipped)", got, want)
	}
	if _, err := pc.Close(ctx, &pluginv1.Empty{}); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestServeConfigErrors: a configuration error reaches the agent as Init
// wrote it.
func TestServeConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"[rates]\nusd = 0.92", "rates.usd: currency code must be three upper-case letters"},
		{"colour = \"red\"" + rates, "config: unknown key(s) colour"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			pc := startPlugin(t)
			_, err := pc.Configure(context.Background(), &pluginv1.ConfigureRequest{ConfigToml: tc.conf})
			if err == nil {
				t.Fatal("Configure succeeded")
			}
			if got := status.Convert(err).Message(); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}
