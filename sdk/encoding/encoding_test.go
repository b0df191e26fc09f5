package encoding

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rowflux/rowflux/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

func mustNew(t testing.TB, format string) Encoder {
	t.Helper()
	enc, err := New(format)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func encodeOne(t testing.TB, format string, ev sdk.Event) (string, int) {
	t.Helper()
	out, skipped := mustNew(t, format).Encode(nil, sdk.Batch{ev})
	return string(out), skipped
}

var (
	commitTime = time.Date(2026, 11, 21, 5, 47, 3, 123456789, time.UTC)
	windowEnd  = time.Date(2026, 11, 21, 5, 47, 10, 0, time.UTC)
)

// goldenBatch covers what a pipeline produces in practice, including the
// events that line protocol has to skip.
func goldenBatch() sdk.Batch {
	paris := time.FixedZone("CET", 3600)
	return sdk.Batch{
		{
			Name: "transactions", Op: sdk.OpInsert,
			Tags: []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "product_category", Value: "books"}},
			Fields: []sdk.Field{
				{Key: "transaction_id", Value: int64(7)},
				{Key: "amount", Value: 12.5},
				{Key: "note", Value: "gift \"wrapped\"\nsecond line\\"},
				{Key: "paid", Value: true},
				{Key: "created_at", Value: time.Date(2026, 11, 21, 6, 47, 3, 0, paris)},
				{Key: "payload", Value: []byte("blob\xfe")},
				{Key: "discount", Value: nil},
			},
			Time: commitTime,
		},
		{
			Name: "volume",
			Tags: []sdk.Tag{{Key: "category", Value: "books"}, {Key: "currency", Value: "EUR"}},
			Fields: []sdk.Field{
				{Key: "total", Value: 1250.75},
				{Key: "n", Value: int64(42)},
				{Key: "avg", Value: math.NaN()},
				{Key: "big", Value: 1e21},
			},
			Time: windowEnd,
		},
		{
			// Tags out of order, as a careless processor might leave them.
			Name: "transactions", Op: sdk.OpDelete,
			Tags:   []sdk.Tag{{Key: "z", Value: "last"}, {Key: "a", Value: "first"}},
			Fields: []sdk.Field{{Key: "transaction_id", Value: int64(8)}},
			Time:   commitTime.Add(time.Millisecond),
		},
		{
			// An "op" tag set by the user wins over the event's Op.
			Name: "transactions", Op: sdk.OpUpdate,
			Tags:   []sdk.Tag{{Key: "op", Value: "manual"}},
			Fields: []sdk.Field{{Key: "transaction_id", Value: int64(9)}},
			Time:   commitTime.Add(2 * time.Millisecond),
		},
		{
			// Empty tag values and unrepresentable floats; no timestamp.
			Name: "my measurement,v2", Op: sdk.OpUpsert,
			Tags: []sdk.Tag{{Key: "empty", Value: ""}, {Key: "host name", Value: "a,b=c"}},
			Fields: []sdk.Field{
				{Key: "inf", Value: math.Inf(1)},
				{Key: "field key", Value: "ünïcödé ✓ <&>"},
				{Key: "bad utf8", Value: "a\xffb"},
			},
		},
		{
			// No name: skipped by line protocol.
			Fields: []sdk.Field{{Key: "x", Value: int64(1)}},
			Time:   commitTime,
		},
		{
			// No representable field: skipped by line protocol.
			Name:   "empty",
			Tags:   []sdk.Tag{{Key: "t", Value: "v"}},
			Fields: []sdk.Field{{Key: "nothing", Value: nil}, {Key: "nan", Value: math.NaN()}},
			Time:   commitTime,
		},
		{
			// A newline in a tag value cannot be written in line protocol.
			Name:   "transactions",
			Tags:   []sdk.Tag{{Key: "currency", Value: "EU\nR"}},
			Fields: []sdk.Field{{Key: "transaction_id", Value: int64(10)}},
			Time:   commitTime,
		},
		{
			// The line after a skipped one is unaffected.
			Name: "volume", Tags: []sdk.Tag{{Key: "category", Value: "toys"}},
			Fields: []sdk.Field{{Key: "n", Value: int64(-3)}, {Key: "negzero", Value: math.Copysign(0, -1)}},
			Time:   windowEnd,
		},
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		format, file string
		skipped      int
	}{
		{FormatInflux, "batch.influx.golden", 3},
		{FormatJSON, "batch.json.golden", 0},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			got, skipped := mustNew(t, tc.format).Encode(nil, goldenBatch())
			if skipped != tc.skipped {
				t.Errorf("skipped = %d, want %d", skipped, tc.skipped)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			checkParses(t, tc.format, got)
		})
	}
}

// checkParses asserts that every line reads back with the format's reference
// parser.
func checkParses(t *testing.T, format string, out []byte) {
	t.Helper()
	switch format {
	case FormatInflux:
		dec := lineprotocol.NewDecoderWithBytes(out)
		for dec.Next() {
			if _, err := dec.Measurement(); err != nil {
				t.Fatalf("measurement: %v\n%s", err, out)
			}
			for {
				k, _, err := dec.NextTag()
				if err != nil {
					t.Fatalf("tag: %v\n%s", err, out)
				}
				if k == nil {
					break
				}
			}
			for {
				k, _, err := dec.NextField()
				if err != nil {
					t.Fatalf("field: %v\n%s", err, out)
				}
				if k == nil {
					break
				}
			}
			if _, err := dec.Time(lineprotocol.Nanosecond, time.Time{}); err != nil {
				t.Fatalf("time: %v\n%s", err, out)
			}
		}
	case FormatJSON:
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		format  string
		wantErr string
	}{
		{FormatInflux, ""},
		{FormatJSON, ""},
		{"x", `unknown format "x" (want "influx" or "json")`},
		{"", `unknown format "" (want "influx" or "json")`},
		{"JSON", `unknown format "JSON" (want "influx" or "json")`},
	}
	for _, tc := range tests {
		enc, err := New(tc.format)
		if tc.wantErr == "" {
			if err != nil || enc == nil {
				t.Errorf("New(%q) = %v, %v; want an encoder", tc.format, enc, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.wantErr {
			t.Errorf("New(%q) error = %v, want %q", tc.format, err, tc.wantErr)
		}
	}
}

// TestAppendsToDst checks that both encoders keep what the caller already has
// in dst and that a reused encoder gives the same result every time.
func TestAppendsToDst(t *testing.T) {
	for _, format := range []string{FormatInflux, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			enc := mustNew(t, format)
			first, _ := enc.Encode(nil, goldenBatch())
			prefix := "previous line\n"
			got, _ := enc.Encode([]byte(prefix), goldenBatch())
			if want := prefix + string(first); string(got) != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			empty, skipped := enc.Encode([]byte(prefix), nil)
			if string(empty) != prefix || skipped != 0 {
				t.Errorf("empty batch: got %q, %d", empty, skipped)
			}
		})
	}
}

// TestBatchNotModified guards the rule that outputs share batches read-only.
func TestBatchNotModified(t *testing.T) {
	for _, format := range []string{FormatInflux, FormatJSON} {
		batch := goldenBatch()
		before := batch[2].Tags[0]
		mustNew(t, format).Encode(nil, batch)
		if batch[2].Tags[0] != before {
			t.Errorf("%s: encoder reordered the batch's tags", format)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	batch := benchBatch(100)
	batch[0].Tags = []sdk.Tag{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}} // exercise the sorted copy
	batch[1].Fields = append(batch[1].Fields, sdk.Field{Key: "t", Value: commitTime}, sdk.Field{Key: "b", Value: []byte(strings.Repeat("bytes\xff", 10))},
		sdk.Field{Key: "long", Value: strings.Repeat("long string ", 10)}, sdk.Field{Key: "badlong", Value: strings.Repeat("bad\xfe", 10)},
		sdk.Field{Key: "blob", Value: []byte(strings.Repeat("valid bytes ", 10))})
	batch[2].Name = "" // exercise the skip path
	for _, format := range []string{FormatInflux, FormatJSON} {
		enc := mustNew(t, format)
		buf, _ := enc.Encode(nil, batch) // grow buffers once
		allocs := testing.AllocsPerRun(20, func() {
			buf, _ = enc.Encode(buf[:0], batch)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per batch in the steady state, want 0", format, allocs)
		}
	}
}

func benchBatch(n int) sdk.Batch {
	cats := []string{"books", "games", "garden", "music", "toys"}
	batch := make(sdk.Batch, n)
	for i := range batch {
		batch[i] = sdk.Event{
			Name: "transactions",
			Tags: []sdk.Tag{
				{Key: "currency", Value: "EUR"},
				{Key: "product_category", Value: cats[i%len(cats)]},
			},
			Fields: []sdk.Field{
				{Key: "transaction_id", Value: int64(1_000_000 + i)},
				{Key: "amount", Value: float64(i%10_000) / 100},
				{Key: "customer", Value: "customer-" + strings.Repeat("x", i%16)},
			},
			Time: commitTime.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return batch
}
