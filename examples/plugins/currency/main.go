package main

import "github.com/rowflux/rowflux/sdk/plugin"

// main serves the processor to the agent that starts this binary; run by
// hand, it explains that and exits.
func main() { plugin.ServeProcessor(Registration) }
