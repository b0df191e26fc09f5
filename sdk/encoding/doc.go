// Package encoding turns batches of events into text for outputs: InfluxDB
// line protocol ("influx") or JSON lines ("json").
//
// Both encoders append to a buffer the caller owns and reuse their own
// scratch space, so an output that keeps its buffer between writes encodes
// without allocating. An Encoder is not safe for concurrent use.
//
// # influx
//
// One line-protocol point per event, written with
// github.com/influxdata/line-protocol/v2 at nanosecond precision:
//
//	transactions,currency=EUR,op=insert amount=12.5,id=7i 1795153623123456789
//
// The measurement is the event name. Tags are written in key order (an
// event whose tags are out of order is encoded from a sorted copy; the batch
// is never modified because several outputs share it). A captured change
// gets a tag op=insert|update|delete|upsert at its sorted position, unless
// the event already has a non-empty "op" tag. Tags with an empty value are
// left out, because line protocol has no way to write them; for the same
// reason an empty "op" tag counts as absent. A zero Time writes no
// timestamp, so the server assigns its own.
//
// Field values map as follows:
//
//	int64      integer (7i)
//	float64    float; NaN and ±Inf are left out, line protocol cannot carry them
//	string     string; invalid UTF-8 bytes become U+FFFD
//	bool       boolean
//	[]byte     string, as for string (line protocol has no binary type)
//	time.Time  string, RFC 3339 with nanoseconds, in UTC
//	nil        left out: line protocol has no null
//
// Other Go numeric types are converted as sdk.NormalizeValue would; any
// other type is left out.
//
// An event is skipped, and counted in Encode's result, when line protocol
// cannot represent it: an empty name or one starting with '#' (a comment to
// every parser), no field left to write, a name, key or tag value the
// protocol forbids (control characters, invalid UTF-8, a trailing
// backslash), duplicate tag keys, or a time outside the years 1677-2262
// that nanosecond timestamps cover. One bad event never affects the lines
// around it.
//
// # json
//
// One object per line, with "op" only for captured changes and "time" only
// when the event has one:
//
//	{"name":"transactions","op":"insert","tags":{"currency":"EUR"},"fields":{"amount":12.5,"id":7},"time":"2026-11-21T05:47:03.123456789Z"}
//
// "tags" and "fields" are always present, possibly empty; tags are in key
// order and fields in event order. Field values map as follows:
//
//	int64      number
//	float64    number, shortest form that reads back exactly; NaN and ±Inf are null
//	string     string; control characters as \u00XX, invalid UTF-8 bytes as \ufffd
//	bool       true or false
//	[]byte     string, standard base64 with padding
//	time.Time  string, RFC 3339 with nanoseconds, in UTC
//	nil        null
//
// Other Go numeric types are converted as sdk.NormalizeValue would; a field
// of any other type is left out. Every event can be written as JSON, so the
// JSON encoder never skips one.
// Consumers should note that a float with an integral value (2.0) is written
// without a fraction (2) and reads back as a number like any integer.
package encoding
