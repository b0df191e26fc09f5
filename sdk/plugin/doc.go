// Package plugin runs a rowflux plugin as its own process: an Input,
// Processor or Output written against package sdk, served over gRPC through
// hashicorp/go-plugin, so that any agent can run it without a custom build.
//
// The plugin is the same code either way. Compiled in, its package
// registers it:
//
//	func init() { sdk.RegisterProcessor(currency.Registration) }
//
// Run out of process, its main serves it:
//
//	func main() { plugin.ServeProcessor(currency.Registration) }
//
// and the agent's configuration declares the binary:
//
//	[[processors.external]]
//	  command = ["/usr/local/bin/rowflux-currency"]
//	  [processors.external.config]   # decoded into the plugin, unknown keys rejected
//	    target = "EUR"
//
// Serve decodes that config table into the value Registration.New returns
// (TOML tags on exported fields, as for a compiled-in plugin) and calls its
// Init with an sdk.Env whose Logger writes to the agent's log, tagged with
// the instance and the plugin's name, and whose counters appear in the
// agent's /metrics. Everything else is the sdk contract: batches in and out,
// checkpoint positions for inputs, Snapshot and Restore for stateful
// processors, Close at the end.
//
// The process belongs to the agent: it ignores Ctrl-C (the agent stops it),
// exits when the agent dies, even by kill -9, and writes nothing useful to
// stdout, which carries the go-plugin handshake. Log through Env.Logger.
//
// The wire protocol is proto/rowflux/plugin/v1/plugin.proto, generated into
// package pluginv1 (make proto). ProtocolVersion changes only when an older
// agent could misread a newer plugin, or the reverse; the agent then refuses
// the plugin at start and says which side to rebuild.
package plugin
