package encoding

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

func TestInfluxValues(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string // the field as written; "" when it is left out
	}{
		{"int64", int64(-42), "v=-42i"},
		{"int64 max", int64(math.MaxInt64), "v=9223372036854775807i"},
		{"float64", 12.5, "v=12.5"},
		{"float64 integral", 2.0, "v=2"},
		{"float64 tiny", 1e-300, "v=1e-300"},
		{"float64 NaN", math.NaN(), ""},
		{"float64 +Inf", math.Inf(1), ""},
		{"float64 -Inf", math.Inf(-1), ""},
		{"string", "hello", `v="hello"`},
		{"string empty", "", `v=""`},
		{"string escapes", "a\"b\\c\nd\te\rf", `v="a\"b\\c\nd\te\rf"`},
		{"string invalid utf8", "a\xff\xfeb", `v="a` + "\uFFFD\uFFFD" + `b"`},
		{"string unicode", "日本", `v="日本"`},
		{"bool true", true, "v=true"},
		{"bool false", false, "v=false"},
		{"bytes", []byte("raw"), `v="raw"`},
		{"bytes invalid utf8", []byte{'x', 0xc3}, `v="x` + "\uFFFD" + `"`},
		{"time", time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", -7200)), `v="2026-01-02T05:04:05.0000006Z"`},
		{"nil", nil, ""},
		{"int normalised", 7, "v=7i"},
		{"uint32 normalised", uint32(8), "v=8i"},
		{"float32 normalised", float32(0.5), "v=0.5"},
		{"uint64 overflow", uint64(math.MaxUint64), ""},
		{"unsupported type", struct{}{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "keep", Value: int64(1)}, {Key: "v", Value: tc.value}}}
			want := "m keep=1i"
			if tc.want != "" {
				want += "," + tc.want
			}
			want += "\n"
			got, skipped := encodeOne(t, FormatInflux, ev)
			if got != want || skipped != 0 {
				t.Errorf("got %q (skipped %d), want %q", got, skipped, want)
			}
			checkParses(t, FormatInflux, []byte(got))
		})
	}
}

func TestInfluxTimestamp(t *testing.T) {
	tests := []struct {
		name string
		time time.Time
		want string
	}{
		{"zero time writes none", time.Time{}, "m v=1i\n"},
		{"nanoseconds", time.Unix(1, 5), "m v=1i 1000000005\n"},
		{"epoch is not zero", time.Unix(0, 0), "m v=1i 0\n"},
		{"before epoch", time.Unix(-1, 0), "m v=1i -1000000000\n"},
		{"local zone", time.Unix(2, 0).In(time.FixedZone("X", 3600)), "m v=1i 2000000000\n"},
		{"out of range skipped", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := encodeOne(t, FormatInflux, sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "v", Value: int64(1)}}, Time: tc.time})
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInfluxOpTag(t *testing.T) {
	tests := []struct {
		name string
		op   sdk.Op
		tags []sdk.Tag
		want string // the tag part of the line
	}{
		{"none", sdk.OpNone, []sdk.Tag{{Key: "a", Value: "1"}}, ",a=1"},
		{"no tags", sdk.OpInsert, nil, ",op=insert"},
		{"first", sdk.OpUpdate, []sdk.Tag{{Key: "z", Value: "1"}}, ",op=update,z=1"},
		{"last", sdk.OpDelete, []sdk.Tag{{Key: "a", Value: "1"}, {Key: "n", Value: "2"}}, ",a=1,n=2,op=delete"},
		{"middle", sdk.OpUpsert, []sdk.Tag{{Key: "a", Value: "1"}, {Key: "p", Value: "2"}}, ",a=1,op=upsert,p=2"},
		{"prefix of key", sdk.OpInsert, []sdk.Tag{{Key: "o", Value: "1"}, {Key: "opx", Value: "2"}}, ",o=1,op=insert,opx=2"},
		{"uppercase sorts first", sdk.OpInsert, []sdk.Tag{{Key: "Z", Value: "1"}}, ",Z=1,op=insert"},
		{"existing op tag wins", sdk.OpDelete, []sdk.Tag{{Key: "a", Value: "1"}, {Key: "op", Value: "purge"}}, ",a=1,op=purge"},
		{"empty op tag is absent", sdk.OpDelete, []sdk.Tag{{Key: "op", Value: ""}, {Key: "z", Value: "1"}}, ",op=delete,z=1"},
		{"unsorted input", sdk.OpInsert, []sdk.Tag{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}}, ",a=2,op=insert,z=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := sdk.Event{Name: "m", Op: tc.op, Tags: tc.tags, Fields: []sdk.Field{{Key: "v", Value: true}}}
			want := "m" + tc.want + " v=true\n"
			if got, _ := encodeOne(t, FormatInflux, ev); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestInfluxTags(t *testing.T) {
	tests := []struct {
		name string
		tags []sdk.Tag
		want string // the tag part of the line; "skip" when the event is skipped
	}{
		{"sorted", []sdk.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}, ",a=1,b=2"},
		{"unsorted", []sdk.Tag{{Key: "c", Value: "3"}, {Key: "a", Value: "1"}, {Key: "b", Value: "2"}}, ",a=1,b=2,c=3"},
		{"empty value left out", []sdk.Tag{{Key: "a", Value: ""}, {Key: "b", Value: "2"}}, ",b=2"},
		{"only empty values", []sdk.Tag{{Key: "a", Value: ""}}, ""},
		{"escaped", []sdk.Tag{{Key: "k y,=", Value: "v a,l=ue"}}, `,k\ y\,\==v\ a\,l\=ue`},
		{"backslash inside", []sdk.Tag{{Key: "path", Value: `C:\dir\x`}}, `,path=C:\dir\x`},
		{"trailing backslash", []sdk.Tag{{Key: "path", Value: `C:\dir\`}}, "skip"},
		{"newline", []sdk.Tag{{Key: "a", Value: "x\ny"}}, "skip"},
		{"invalid utf8", []sdk.Tag{{Key: "a", Value: "\xff"}}, "skip"},
		{"empty key", []sdk.Tag{{Key: "", Value: "x"}}, "skip"},
		{"duplicate key", []sdk.Tag{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}, "skip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := sdk.Event{Name: "m", Tags: tc.tags, Fields: []sdk.Field{{Key: "v", Value: int64(1)}}}
			want := "m" + tc.want + " v=1i\n"
			wantSkipped := 0
			if tc.want == "skip" {
				want, wantSkipped = "", 1
			}
			got, skipped := encodeOne(t, FormatInflux, ev)
			if got != want || skipped != wantSkipped {
				t.Errorf("got %q (skipped %d), want %q (skipped %d)", got, skipped, want, wantSkipped)
			}
			checkParses(t, FormatInflux, []byte(got))
		})
	}
}

// TestInfluxSkipped checks each reason to skip an event, and that a skipped
// event leaves no trace in, and does not disturb, the lines around it.
func TestInfluxSkipped(t *testing.T) {
	good := sdk.Event{Name: "ok", Tags: []sdk.Tag{{Key: "t", Value: "v"}}, Fields: []sdk.Field{{Key: "f", Value: int64(1)}}, Time: time.Unix(0, 1)}
	const goodLine = "ok,t=v f=1i 1\n"
	field := []sdk.Field{{Key: "f", Value: int64(1)}}
	tests := []struct {
		name string
		ev   sdk.Event
	}{
		{"empty name", sdk.Event{Fields: field}},
		{"comment name", sdk.Event{Name: "#m", Fields: field}},
		{"name with newline", sdk.Event{Name: "m\nx", Fields: field}},
		{"name with trailing backslash", sdk.Event{Name: `m\`, Fields: field}},
		{"no fields", sdk.Event{Name: "m"}},
		{"only nil and NaN", sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "a", Value: nil}, {Key: "b", Value: math.NaN()}}}},
		{"bad field key", sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "f", Value: int64(1)}, {Key: "k\x00", Value: int64(2)}}}},
		{"empty field key", sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "", Value: int64(1)}}}},
		{"bad tag", sdk.Event{Name: "m", Tags: []sdk.Tag{{Key: "t", Value: "\x7f"}}, Fields: field}},
		{"time out of range", sdk.Event{Name: "m", Fields: field, Time: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := mustNew(t, FormatInflux)
			for _, batch := range []sdk.Batch{
				{tc.ev, good},
				{good, tc.ev, good},
				{good, tc.ev},
				{tc.ev, tc.ev, good, tc.ev},
			} {
				bad := 0
				want := ""
				for _, ev := range batch {
					if ev.Name == good.Name {
						want += goodLine
					} else {
						bad++
					}
				}
				got, skipped := enc.Encode(nil, batch)
				if string(got) != want || skipped != bad {
					t.Errorf("batch of %d: got %q (skipped %d), want %q (skipped %d)", len(batch), got, skipped, want, bad)
				}
			}
		})
	}
}

func TestInfluxMeasurementEscaping(t *testing.T) {
	tests := []struct{ name, want string }{
		{"plain", "plain"},
		{"with space", `with\ space`},
		{"with,comma", `with\,comma`},
		{"with=equals", "with=equals"},
		{" leading", `\ leading`},
		{"a#b", "a#b"},
	}
	for _, tc := range tests {
		got, _ := encodeOne(t, FormatInflux, sdk.Event{Name: tc.name, Fields: []sdk.Field{{Key: "v", Value: int64(1)}}})
		if want := tc.want + " v=1i\n"; got != want {
			t.Errorf("name %q: got %q, want %q", tc.name, got, want)
		}
		checkParses(t, FormatInflux, []byte(got))
	}
}

func TestInfluxLongBatch(t *testing.T) {
	batch := benchBatch(5000)
	out, skipped := mustNew(t, FormatInflux).Encode(nil, batch)
	if skipped != 0 {
		t.Fatalf("skipped %d", skipped)
	}
	if n := strings.Count(string(out), "\n"); n != len(batch) {
		t.Fatalf("%d lines for %d events", n, len(batch))
	}
	checkParses(t, FormatInflux, out)
}
