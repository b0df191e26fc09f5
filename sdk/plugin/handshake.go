package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// ProtocolVersion is the version of the rowflux plugin protocol this
// package speaks (package pluginv1). An agent refuses a plugin built for
// another version, before sending it anything.
const ProtocolVersion = 1

// Handshake is what the agent and a plugin check before they talk: the
// cookie tells a plugin binary that an agent started it (run by hand, it
// explains itself and exits) and the version is ProtocolVersion.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "ROWFLUX_PLUGIN",
	MagicCookieValue: "rowflux-plugin-8f2b61d4",
}

// The names under which a plugin binary serves its kind. A binary serves
// exactly one.
const (
	NameInput     = "input"
	NameProcessor = "processor"
	NameOutput    = "output"
)

// KindName returns the name a plugin of kind k is served under.
func KindName(k sdk.Kind) string {
	switch k {
	case sdk.KindInput:
		return NameInput
	case sdk.KindProcessor:
		return NameProcessor
	case sdk.KindOutput:
		return NameOutput
	}
	return string(k)
}

// HostPlugins is the plugin set the agent starts plugins with: dispensing a
// kind returns its generated gRPC client (pluginv1.InputClient,
// ProcessorClient or OutputClient).
func HostPlugins() goplugin.PluginSet {
	return goplugin.PluginSet{
		NameInput:     &grpcPlugin{client: func(c *grpc.ClientConn) any { return pluginv1.NewInputClient(c) }},
		NameProcessor: &grpcPlugin{client: func(c *grpc.ClientConn) any { return pluginv1.NewProcessorClient(c) }},
		NameOutput:    &grpcPlugin{client: func(c *grpc.ClientConn) any { return pluginv1.NewOutputClient(c) }},
	}
}

// grpcPlugin adapts one service to go-plugin; only the side that uses it
// sets its function.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	server func(*grpc.Server)
	client func(*grpc.ClientConn) any
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	p.server(s)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return p.client(c), nil
}
