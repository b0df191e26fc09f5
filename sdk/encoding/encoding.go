package encoding

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rowflux/rowflux/sdk"
)

// Format names accepted in configuration.
const (
	FormatInflux = "influx"
	FormatJSON   = "json"
)

// Encoder turns batches into text.
//
// An Encoder keeps scratch state between calls so that encoding allocates
// nothing once its buffers have grown; it is therefore not safe for
// concurrent use. Give each goroutine its own Encoder.
type Encoder interface {
	// Encode appends one line per event to dst. Events that cannot be represented are skipped and counted.
	Encode(dst []byte, batch sdk.Batch) (out []byte, skipped int)
}

// New returns an Encoder for a format name from configuration.
func New(format string) (Encoder, error) {
	switch format {
	case FormatInflux:
		return newInflux(), nil
	case FormatJSON:
		return &jsonEncoder{}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want %q or %q)", format, FormatInflux, FormatJSON)
}

// sortedTags returns tags in key order, using scratch when they are not
// already sorted. Producers are supposed to keep tags sorted, so the copy is
// the rare path; the batch itself is never modified because outputs share it.
func sortedTags(tags []sdk.Tag, scratch *[]sdk.Tag) []sdk.Tag {
	for i := 1; i < len(tags); i++ {
		if tags[i].Key < tags[i-1].Key {
			*scratch = append((*scratch)[:0], tags...)
			// Same order as sdk.SortTags, without its per-call allocations.
			slices.SortStableFunc(*scratch, func(a, b sdk.Tag) int { return strings.Compare(a.Key, b.Key) })
			return *scratch
		}
	}
	return tags
}

// appendTime writes t the same way in both formats, so a value reads the
// same wherever it ends up.
func appendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// appendValidUTF8 appends s with every byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD, one replacement per byte as encoding/json does,
// so both formats mangle bad text identically.
func appendValidUTF8(dst []byte, s string) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

// appendValidUTF8Bytes is appendValidUTF8 for a byte slice, spelled out
// because converting a long slice to a string would allocate.
func appendValidUTF8Bytes(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}
