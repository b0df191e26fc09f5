module github.com/rowflux/rowflux

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/influxdata/line-protocol/v2 v2.2.1
)
