package external

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// Input stands in the pipeline for an input in another process. The
// plugin's batches arrive on a stream with the position after each; the
// plugin's Emit returns when the pipeline has taken the batch, so
// backpressure reaches it as it reaches a compiled-in input. A crashed
// plugin is restarted from the position of the last batch that reached
// the pipeline, so nothing is skipped; what it sent and the agent had not
// taken yet is sent again.
type Input struct {
	settings
	h host
}

func newInput() *Input { return &Input{settings: defaultSettings()} }

// Init starts the plugin.
func (in *Input) Init(env sdk.Env) error {
	in.h.settings = in.settings
	return in.h.init(sdk.KindInput, env)
}

func (in *Input) Run(ctx context.Context, from sdk.Position, out sdk.Emitter) error {
	pos := from
	for {
		pr := in.h.current()
		if pr == nil {
			return fmt.Errorf("plugin %s is closed", in.Command[0])
		}
		err := in.stream(ctx, pr, &pos, out)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !lost(pr, err):
			return wrapCall("run", err)
		}
		in.h.crashed(pr, err)
		if err := in.h.restart(ctx, nil); err != nil {
			return err
		}
	}
}

// errPipeline marks an Emit failure: the pipeline is closing, not the
// plugin failing.
type errPipeline struct{ error }

// stream runs one Run call, advancing *pos with every batch the pipeline
// takes.
func (in *Input) stream(ctx context.Context, pr *process, pos *sdk.Position, out sdk.Emitter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := pr.rpc.(pluginv1.InputClient).Run(ctx)
	if err != nil {
		return err
	}
	start := &pluginv1.Start{}
	if *pos != nil {
		start.From = &pluginv1.Position{Data: *pos}
	}
	if err := st.Send(&pluginv1.RunRequest{Kind: &pluginv1.RunRequest_Start{Start: start}}); err != nil {
		return err
	}
	ack := &pluginv1.RunRequest{Kind: &pluginv1.RunRequest_Ack{Ack: &pluginv1.Empty{}}}
	for {
		resp, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		in.h.count(pr, resp.Counts)
		batch, err := pluginv1.DecodeEvents(resp.GetBatch().GetEvents())
		if err != nil {
			return fmt.Errorf("plugin %s sent a batch the agent cannot read: %w", in.Command[0], err)
		}
		var p sdk.Position
		if resp.Position != nil {
			p = resp.Position.Data
		}
		if err := out.Emit(ctx, batch, p); err != nil {
			return errPipeline{err}
		}
		*pos = p
		in.h.backoff.reset()
		if err := st.Send(ack); err != nil {
			if errors.Is(err, io.EOF) {
				// The stream ended while the batch waited for the pipeline:
				// its status says how (the plugin's Run returned).
				for {
					if _, err := st.Recv(); err != nil {
						if errors.Is(err, io.EOF) {
							return nil
						}
						return err
					}
				}
			}
			return err
		}
	}
}

// CheckpointDurable tells the plugin, if it listens, that a checkpoint
// holding pos is durable. A plugin that crashed meanwhile hears of the
// next one.
func (in *Input) CheckpointDurable(ctx context.Context, pos sdk.Position) error {
	if !in.h.caps.CheckpointListener {
		return nil
	}
	pr := in.h.current()
	if pr == nil {
		return nil
	}
	_, err := pr.rpc.(pluginv1.InputClient).CheckpointDurable(ctx, &pluginv1.Position{Data: pos})
	if err != nil && !lost(pr, err) {
		return wrapCall("checkpoint durable", err)
	}
	return nil
}

// Close closes the plugin and ends its process.
func (in *Input) Close() error {
	return in.h.stop()
}
