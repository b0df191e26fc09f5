package capture

import (
	"context"

	"github.com/rowflux/rowflux/sdk"
)

// Input gives a database input the sdk.Input, sdk.CheckpointListener,
// sdk.SourceManager and sdk.Closer methods by forwarding them to its
// engine. A database input embeds it next to Config and calls Start from
// its Init.
type Input struct {
	engine *Engine
}

// Start builds the engine for cfg over src (see NewEngine).
func (in *Input) Start(cfg *Config, src Source, env sdk.Env) error {
	e, err := NewEngine(cfg, src, env)
	if err != nil {
		return err
	}
	in.engine = e
	return nil
}

// Engine is the engine built by Start.
func (in *Input) Engine() *Engine { return in.engine }

func (in *Input) Run(ctx context.Context, from sdk.Position, out sdk.Emitter) error {
	return in.engine.Run(ctx, from, out)
}

func (in *Input) CheckpointDurable(ctx context.Context, pos sdk.Position) error {
	return in.engine.CheckpointDurable(ctx, pos)
}

func (in *Input) Setup(ctx context.Context) error    { return in.engine.Setup(ctx) }
func (in *Input) Teardown(ctx context.Context) error { return in.engine.Teardown(ctx) }
func (in *Input) Doctor(ctx context.Context) ([]sdk.Check, error) {
	return in.engine.Doctor(ctx)
}

// Close releases the source; it is safe when Start failed or never ran.
func (in *Input) Close() error {
	if in.engine == nil {
		return nil
	}
	return in.engine.Close()
}
