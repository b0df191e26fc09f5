// Package all registers every built-in plugin; cmd/agent imports it for its
// side effects. A custom build lists its own plugins here instead.
package all

import (
	_ "github.com/rowflux/rowflux/plugins/inputs/generate"
	_ "github.com/rowflux/rowflux/plugins/inputs/oracle"
	_ "github.com/rowflux/rowflux/plugins/inputs/postgres"
	_ "github.com/rowflux/rowflux/plugins/inputs/sqlite"
	_ "github.com/rowflux/rowflux/plugins/outputs/influxdb"
	_ "github.com/rowflux/rowflux/plugins/outputs/stdout"
	_ "github.com/rowflux/rowflux/plugins/outputs/websocket"
	_ "github.com/rowflux/rowflux/plugins/processors/filter"
	_ "github.com/rowflux/rowflux/plugins/processors/window"
)
