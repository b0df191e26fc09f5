package main

import "github.com/rowflux/rowflux/sdk/plugin"

// main serves the output to the agent that starts this binary; run by
// hand, it explains that and exits.
func main() { plugin.ServeOutput(Registration) }
