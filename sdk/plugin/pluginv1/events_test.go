package pluginv1

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rowflux/rowflux/sdk"
)

var t0 = time.Date(2026, 11, 21, 5, 47, 3, 123456789, time.UTC)

// events covers every value type, empty and absent parts, and times on
// both sides of 1970 and outside the nanosecond-timestamp years.
var events = sdk.Batch{
	{},
	{Name: "transactions", Op: sdk.OpInsert, Time: t0,
		Tags: []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "empty", Value: ""}},
		Fields: []sdk.Field{
			{Key: "id", Value: int64(7)}, {Key: "neg", Value: int64(math.MinInt64)}, {Key: "zero", Value: int64(0)},
			{Key: "amount", Value: 12.5}, {Key: "nan", Value: math.Inf(-1)}, {Key: "fzero", Value: 0.0},
			{Key: "s", Value: "héllo"}, {Key: "es", Value: ""}, {Key: "t", Value: true}, {Key: "f", Value: false},
			{Key: "b", Value: []byte{0, 1, 2}}, {Key: "eb", Value: []byte{}},
			{Key: "ts", Value: t0}, {Key: "old", Value: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
			{Key: "zt", Value: time.Time{}}, {Key: "epoch", Value: time.Unix(0, 0).UTC()},
			{Key: "far", Value: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
			{Key: "pre", Value: time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC)},
			{Key: "null", Value: nil}, {Key: "", Value: int64(1)},
		}},
	{Name: "deleted", Op: sdk.OpDelete, Time: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
	{Name: "up", Op: sdk.OpUpsert, Tags: []sdk.Tag{{Key: "k", Value: "v"}}},
}

func TestAppendEventsMatchesGeneratedCode(t *testing.T) {
	data, err := AppendEvents(nil, events)
	if err != nil {
		t.Fatal(err)
	}
	var list EventList
	if err := proto.Unmarshal(data, &list); err != nil {
		t.Fatalf("generated code cannot read AppendEvents' output: %v", err)
	}
	want := generated(events)
	if !proto.Equal(&list, want) {
		t.Fatalf("AppendEvents wrote\n%v\nwant\n%v", &list, want)
	}
	// Deterministic proto.Marshal of the same content is the same bytes.
	ref, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(ref) != string(data) {
		t.Errorf("AppendEvents bytes differ from proto.Marshal's:\n%x\n%x", data, ref)
	}
}

func TestDecodeEventsReadsGeneratedCode(t *testing.T) {
	data, err := proto.Marshal(generated(events))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, normalised(events)) {
		t.Fatalf("DecodeEvents =\n%#v\nwant\n%#v", got, normalised(events))
	}
}

func TestEventsRoundTripConvertsOtherNumbers(t *testing.T) {
	in := sdk.Batch{{Name: "m", Fields: []sdk.Field{{Key: "i", Value: 3}, {Key: "u", Value: uint32(4)}, {Key: "f", Value: float32(0.5)}}}}
	data, err := AppendEvents(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.Field{{Key: "i", Value: int64(3)}, {Key: "u", Value: int64(4)}, {Key: "f", Value: 0.5}}
	if !reflect.DeepEqual(got[0].Fields, want) {
		t.Fatalf("fields = %#v, want %#v", got[0].Fields, want)
	}
}

func TestAppendEventsRejects(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"struct", struct{}{}, `event 0 (m): field "x": unsupported field type struct {}`},
		{"uint64 overflow", uint64(math.MaxUint64), `event 0 (m): field "x": value 18446744073709551615 overflows int64`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AppendEvents(nil, sdk.Batch{{Name: "m", Fields: []sdk.Field{{Key: "x", Value: tt.value}}}})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestDecodeEventsRejectsMalformed(t *testing.T) {
	good, _ := AppendEvents(nil, events)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-3], "truncated or malformed message"},
		{"length past end", []byte{0x0a, 0x05, 0x0a}, "truncated or malformed message"},
		{"unknown op", []byte{0x0a, 0x02, 0x10, 0x09}, "event 0: unknown op 9"},
		{"bad nanos", []byte{0x0a, 0x04, 0x2a, 0x02, 0x10, 0x7f}, "event 0: time: nanos 127 out of range"},
	}
	// nanos 127 is in range; make it 2e9 instead.
	tests[3].data = append([]byte{0x0a, 0x09, 0x2a, 0x07, 0x10}, appendUvarint(nil, 2_000_000_000)...)
	tests[3].data[1] = byte(len(tests[3].data) - 2)
	tests[3].data[3] = byte(len(tests[3].data) - 4)
	tests[3].want = "event 0: time: nanos 2000000000 out of range"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvents(tt.data)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %s", err, tt.want)
			}
		})
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func TestDecodeEventsSkipsUnknownFields(t *testing.T) {
	// Event{name:"m", 9: varint 1, 10: fixed32, 11: bytes "x"} — fields a
	// newer peer might add.
	data := []byte{0x0a, 0x0e, 0x0a, 0x01, 'm', 0x48, 0x01, 0x55, 0, 0, 0, 0, 0x5a, 0x01, 'x', 0x10, 0x01}
	data[1] = byte(len(data) - 2)
	got, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "m" || got[0].Op != sdk.OpInsert {
		t.Fatalf("got %#v", got)
	}
}

func TestDecodedEventsDoNotShareSlices(t *testing.T) {
	in := sdk.Batch{
		{Name: "a", Tags: []sdk.Tag{{Key: "x", Value: "1"}}, Fields: []sdk.Field{{Key: "f", Value: int64(1)}}},
		{Name: "b", Tags: []sdk.Tag{{Key: "y", Value: "2"}}, Fields: []sdk.Field{{Key: "g", Value: int64(2)}}},
	}
	data, _ := AppendEvents(nil, in)
	got, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	got[0].SetTag("z", "3")
	got[0].SetField("h", int64(3))
	if got[1].Tags[0].Key != "y" || got[1].Fields[0].Key != "g" {
		t.Fatalf("growing event 0 overwrote event 1: %#v", got[1])
	}
}

func FuzzDecodeEvents(f *testing.F) {
	good, _ := AppendEvents(nil, events)
	f.Add(good)
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeEvents(data)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes, and decodes to the same events.
		again, err := AppendEvents(nil, b)
		if err != nil {
			t.Fatalf("re-encoding a decoded batch: %v", err)
		}
		b2, err := DecodeEvents(again)
		if err != nil || !reflect.DeepEqual(normalised(b), b2) {
			t.Fatalf("round trip changed the batch: %v\n%#v\n%#v", err, b, b2)
		}
	})
}

// generated builds the EventList the generated code would hold for b.
func generated(b sdk.Batch) *EventList {
	list := &EventList{}
	for _, e := range b {
		pe := &Event{Name: e.Name, Op: Op(e.Op), Time: FromTime(e.Time)}
		for _, t := range e.Tags {
			pe.Tags = append(pe.Tags, &Tag{Key: t.Key, Value: t.Value})
		}
		for _, f := range e.Fields {
			v := &Value{}
			switch x := f.Value.(type) {
			case int64:
				v.Kind = &Value_Int{Int: x}
			case float64:
				v.Kind = &Value_Float{Float: x}
			case string:
				v.Kind = &Value_String_{String_: x}
			case bool:
				v.Kind = &Value_Bool{Bool: x}
			case []byte:
				v.Kind = &Value_Bytes{Bytes: x}
			case time.Time:
				v.Kind = &Value_Time{Time: &Time{Seconds: x.Unix(), Nanos: int32(x.Nanosecond())}}
			case nil:
			default:
				panic(fmt.Sprintf("%T", x))
			}
			pe.Fields = append(pe.Fields, &Field{Key: f.Key, Value: v})
		}
		list.Events = append(list.Events, pe)
	}
	return list
}

// normalised is what a decoded batch looks like: times in UTC, empty
// slices nil, empty []byte values non-nil.
func normalised(b sdk.Batch) sdk.Batch {
	if len(b) == 0 {
		return nil
	}
	out := make(sdk.Batch, len(b))
	for i, e := range b {
		c := e.Clone()
		if len(c.Tags) == 0 {
			c.Tags = nil
		}
		if len(c.Fields) == 0 {
			c.Fields = nil
		}
		for j, f := range c.Fields {
			switch x := f.Value.(type) {
			case time.Time:
				c.Fields[j].Value = timeFrom(x.Unix(), int64(x.Nanosecond()))
			case []byte:
				if x == nil {
					c.Fields[j].Value = []byte{}
				}
			}
		}
		if !c.Time.IsZero() {
			c.Time = c.Time.UTC()
		}
		out[i] = c
	}
	return out
}

func TestDecodedStringsDoNotPointIntoTheMessage(t *testing.T) {
	in := sdk.Batch{
		{Name: "a", Tags: []sdk.Tag{{Key: "k", Value: "tv"}}, Fields: []sdk.Field{{Key: "f", Value: "fv"}}},
		{Name: "b", Tags: []sdk.Tag{{Key: "k", Value: "tw"}}, Fields: []sdk.Field{{Key: "g", Value: "fw"}}},
	}
	data, _ := AppendEvents(nil, in)
	got, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	// A buffer reused for the next message must not change decoded events.
	for i := range data {
		data[i] = 'X'
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("decoded events changed with the buffer:\n%#v", got)
	}
}

// A first event unlike the others must not size the whole batch's memory.
func TestFirstEventDoesNotSizeTheBatch(t *testing.T) {
	wide := sdk.Event{Name: "w", Fields: make([]sdk.Field, 200)}
	for i := range wide.Fields {
		wide.Fields[i] = sdk.Field{Key: fmt.Sprint("c", i), Value: int64(i)}
	}
	narrow := sdk.Event{Name: "n", Fields: []sdk.Field{{Key: "c", Value: int64(1)}}}
	big := sdk.Event{Name: "b", Fields: []sdk.Field{{Key: "blob", Value: make([]byte, 1<<20)}}}
	tests := []struct {
		name  string
		first sdk.Event
	}{{"wide first event", wide}, {"large first value", big}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := sdk.Batch{tt.first}
			for range 50_000 {
				b = append(b, narrow)
			}
			data, err := AppendEvents(nil, b)
			if err != nil {
				t.Fatal(err)
			}
			if limit := 2*len(data) + maxGuess + (2 << 20); cap(data) > limit {
				t.Errorf("encoding %d bytes reserved %d", len(data), cap(data))
			}
			allocs := testing.Benchmark(func(tb *testing.B) {
				tb.ReportAllocs()
				for tb.Loop() {
					if _, err := DecodeEvents(data); err != nil {
						tb.Fatal(err)
					}
				}
			}).AllocedBytesPerOp()
			// The events themselves take ~10 MB; a slab sized from the
			// first event would take 50,000 x 200 fields (~300 MB).
			if allocs > 40<<20 {
				t.Errorf("decoding %d bytes allocated %d bytes", len(data), allocs)
			}
		})
	}
}
