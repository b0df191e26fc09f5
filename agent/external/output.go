package external

import (
	"context"
	"fmt"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// Output stands in the pipeline for an output in another process. A
// crashed plugin fails the Write in progress; the agent retries it with
// backoff, as for any output error, and the retry starts a new process.
type Output struct {
	settings

	h   host
	buf []byte
}

func newOutput() *Output { return &Output{settings: defaultSettings()} }

// Init starts the plugin.
func (o *Output) Init(env sdk.Env) error {
	o.h.settings = o.settings
	return o.h.init(sdk.KindOutput, env)
}

func (o *Output) Write(ctx context.Context, batch sdk.Batch) error {
	pr := o.h.current()
	if pr == nil {
		var err error
		if pr, err = o.h.start(ctx); err != nil {
			return fmt.Errorf("restarting the plugin: %w", err)
		}
		o.h.setProc(pr)
		o.h.log.Info("external plugin restarted", "plugin", o.h.name, "pid", pr.pid())
	}
	data, err := pluginv1.AppendEvents(o.buf[:0], batch)
	if err != nil {
		return fmt.Errorf("encoding the batch for the plugin: %w", err)
	}
	o.buf = data
	resp, err := pr.rpc.(pluginv1.OutputClient).Write(ctx, &pluginv1.Batch{Events: data})
	if err == nil {
		o.h.count(pr, resp.GetCounts())
		return nil
	}
	if ctx.Err() == nil && lost(pr, err) {
		reason := o.h.crashed(pr, err)
		o.h.setProc(nil)
		return fmt.Errorf("plugin %s crashed (%s); the write is retried in a new process", o.Command[0], reason)
	}
	return wrapCall("write", err)
}

// Close closes the plugin and ends its process.
func (o *Output) Close() error {
	return o.h.stop()
}
