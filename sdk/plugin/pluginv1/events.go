package pluginv1

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rowflux/rowflux/sdk"
)

// The wire form of a batch is a serialized EventList (Batch.events).
// AppendEvents and DecodeEvents write and read it directly from and to
// sdk events: going through the generated EventList costs a message per
// tag, field and value and doubled the time of a call. The tests hold both
// to the generated code, byte for byte.

// maxGuess and maxSlab cap what the codec allocates ahead on the word of a
// batch's first event: 4 MiB of encoding, 64 Ki tags or fields.
const (
	maxGuess = 4 << 20
	maxSlab  = 64 << 10
)

// Field numbers of the messages in plugin.proto.
const (
	listEvents protowire.Number = 1

	eventName   protowire.Number = 1
	eventOp     protowire.Number = 2
	eventTags   protowire.Number = 3
	eventFields protowire.Number = 4
	eventTime   protowire.Number = 5

	pairKey   protowire.Number = 1 // Tag.key, Field.key
	pairValue protowire.Number = 2 // Tag.value, Field.value

	valueInt    protowire.Number = 1
	valueFloat  protowire.Number = 2
	valueString protowire.Number = 3
	valueBool   protowire.Number = 4
	valueBytes  protowire.Number = 5
	valueTime   protowire.Number = 6

	timeSeconds protowire.Number = 1
	timeNanos   protowire.Number = 2
)

// AppendEvents appends the serialized EventList of b to dst. Field values
// must be of the types sdk.Field lists; other numeric types are converted as
// sdk.NormalizeValue does, and anything else is an error naming the event
// and the field.
func AppendEvents(dst []byte, b sdk.Batch) ([]byte, error) {
	for i := range b {
		e := &b[i]
		n, err := eventSize(e)
		if err != nil {
			return dst, fmt.Errorf("event %d (%s): %w", i, e.Name, err)
		}
		if i == 0 {
			// Grow once, guessing from the first event, rather than doubling
			// through a large batch; the guess is capped, because a first
			// event with a large value says nothing about the others.
			need := min((n+4)*len(b)*9/8, max(n+4, maxGuess))
			if cap(dst)-len(dst) < need {
				dst = append(make([]byte, 0, len(dst)+need), dst...)
			}
		}
		dst = protowire.AppendTag(dst, listEvents, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(n))
		dst = appendEvent(dst, e)
	}
	return dst, nil
}

func eventSize(e *sdk.Event) (int, error) {
	n := 0
	if e.Name != "" {
		n += 1 + protowire.SizeBytes(len(e.Name))
	}
	if e.Op != 0 {
		n += 1 + protowire.SizeVarint(uint64(e.Op))
	}
	for _, t := range e.Tags {
		n += 1 + protowire.SizeBytes(pairSize(t.Key, t.Value))
	}
	for j := range e.Fields {
		f := &e.Fields[j]
		vs, err := valueSize(f.Value)
		if err != nil {
			return 0, fmt.Errorf("field %q: %w", f.Key, err)
		}
		n += 1 + protowire.SizeBytes(fieldSize(f.Key, vs))
	}
	if !e.Time.IsZero() {
		n += 1 + protowire.SizeBytes(timeSize(e.Time))
	}
	return n, nil
}

func pairSize(k, v string) int {
	n := 0
	if k != "" {
		n += 1 + protowire.SizeBytes(len(k))
	}
	if v != "" {
		n += 1 + protowire.SizeBytes(len(v))
	}
	return n
}

func fieldSize(k string, valueSize int) int {
	n := 1 + protowire.SizeBytes(valueSize)
	if k != "" {
		n += 1 + protowire.SizeBytes(len(k))
	}
	return n
}

func timeSize(t time.Time) int {
	n := 0
	if s := t.Unix(); s != 0 {
		n += 1 + protowire.SizeVarint(uint64(s))
	}
	if ns := t.Nanosecond(); ns != 0 {
		n += 1 + protowire.SizeVarint(uint64(ns))
	}
	return n
}

// valueSize is the size of a Value message's content.
func valueSize(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return 1 + protowire.SizeVarint(protowire.EncodeZigZag(x)), nil
	case float64:
		return 1 + 8, nil
	case string:
		return 1 + protowire.SizeBytes(len(x)), nil
	case bool:
		return 1 + 1, nil
	case []byte:
		return 1 + protowire.SizeBytes(len(x)), nil
	case time.Time:
		return 1 + protowire.SizeBytes(timeSize(x)), nil
	default:
		n, err := sdk.NormalizeValue(v)
		if err != nil {
			return 0, err
		}
		return valueSize(n)
	}
}

func appendEvent(b []byte, e *sdk.Event) []byte {
	if e.Name != "" {
		b = protowire.AppendTag(b, eventName, protowire.BytesType)
		b = protowire.AppendString(b, e.Name)
	}
	if e.Op != 0 {
		b = protowire.AppendTag(b, eventOp, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.Op))
	}
	for _, t := range e.Tags {
		b = protowire.AppendTag(b, eventTags, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(pairSize(t.Key, t.Value)))
		if t.Key != "" {
			b = protowire.AppendTag(b, pairKey, protowire.BytesType)
			b = protowire.AppendString(b, t.Key)
		}
		if t.Value != "" {
			b = protowire.AppendTag(b, pairValue, protowire.BytesType)
			b = protowire.AppendString(b, t.Value)
		}
	}
	for j := range e.Fields {
		f := &e.Fields[j]
		v := f.Value
		if _, native := v.(int); native || !isNative(v) {
			v, _ = sdk.NormalizeValue(v) // checked by eventSize
		}
		vs, _ := valueSize(v)
		b = protowire.AppendTag(b, eventFields, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(fieldSize(f.Key, vs)))
		if f.Key != "" {
			b = protowire.AppendTag(b, pairKey, protowire.BytesType)
			b = protowire.AppendString(b, f.Key)
		}
		b = protowire.AppendTag(b, pairValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(vs))
		b = appendValue(b, v)
	}
	if !e.Time.IsZero() {
		b = protowire.AppendTag(b, eventTime, protowire.BytesType)
		b = appendTime(b, e.Time)
	}
	return b
}

func isNative(v any) bool {
	switch v.(type) {
	case nil, int64, float64, string, bool, []byte, time.Time:
		return true
	}
	return false
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case int64:
		b = protowire.AppendTag(b, valueInt, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(x))
	case float64:
		b = protowire.AppendTag(b, valueFloat, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(x))
	case string:
		b = protowire.AppendTag(b, valueString, protowire.BytesType)
		b = protowire.AppendString(b, x)
	case bool:
		b = protowire.AppendTag(b, valueBool, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(x))
	case []byte:
		b = protowire.AppendTag(b, valueBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, x)
	case time.Time:
		b = protowire.AppendTag(b, valueTime, protowire.BytesType)
		b = appendTime(b, x)
	}
	return b
}

// appendTime appends a length-prefixed Time message.
func appendTime(b []byte, t time.Time) []byte {
	b = protowire.AppendVarint(b, uint64(timeSize(t)))
	if s := t.Unix(); s != 0 {
		b = protowire.AppendTag(b, timeSeconds, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s))
	}
	if ns := t.Nanosecond(); ns != 0 {
		b = protowire.AppendTag(b, timeNanos, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(ns))
	}
	return b
}

var errTruncated = errors.New("truncated or malformed message")

// DecodeEvents parses a serialized EventList into a batch. Times come back
// in UTC. Fields unknown to this version are skipped, as protobuf
// requires; an op out of range is an error.
//
// Every string of the batch is its own: none points into data, which a
// plugin keeping a tag value in its state would otherwise pin whole.
// Names and keys repeat from event to event and tag values are few, so
// those are shared within the batch rather than allocated per event.
func DecodeEvents(data []byte) (sdk.Batch, error) {
	if len(data) == 0 {
		return nil, nil
	}
	// The decoder reads data as a string without copying it; every string
	// it keeps is cloned or interned, so none outlives this call.
	d := decoder{s: unsafe.String(&data[0], len(data))}
	out := make(sdk.Batch, 0, countEvents(data))
	var prev *sdk.Event
	for d.off < len(d.s) {
		num, typ, err := d.tag()
		if err != nil {
			return nil, err
		}
		if num != listEvents || typ != protowire.BytesType {
			if err := d.skip(num, typ); err != nil {
				return nil, err
			}
			continue
		}
		end, err := d.sub()
		if err != nil {
			return nil, err
		}
		out = append(out, sdk.Event{})
		e := &out[len(out)-1]
		if err := d.event(e, prev, end); err != nil {
			return nil, fmt.Errorf("event %d: %w", len(out)-1, err)
		}
		prev = e
		if len(out) == 1 {
			// Events of a batch tend to have the same shape: size the
			// slabs after the first one instead of growing them by doubling,
			// up to a cap, since a wide first event may be followed by narrow
			// ones.
			if n := min(len(out[0].Tags)*cap(out), maxSlab); n > cap(d.tags) {
				d.tags = make([]sdk.Tag, len(d.tags), n)
				copy(d.tags, out[0].Tags)
				out[0].Tags = d.tags[:len(out[0].Tags):len(out[0].Tags)]
			}
			if n := min(len(out[0].Fields)*cap(out), maxSlab); n > cap(d.fields) {
				d.fields = make([]sdk.Field, len(d.fields), n)
				copy(d.fields, out[0].Fields)
				out[0].Fields = d.fields[:len(out[0].Fields):len(out[0].Fields)]
			}
		}
	}
	return out, nil
}

// countEvents counts the top-level entries of a serialized EventList,
// stopping at the first malformed one (DecodeEvents reports it).
func countEvents(data []byte) int {
	n := 0
	for len(data) > 0 {
		num, typ, l := protowire.ConsumeField(data)
		if l < 0 {
			break
		}
		if num == listEvents && typ == protowire.BytesType {
			n++
		}
		data = data[l:]
	}
	return n
}

type decoder struct {
	s   string // the whole message; strings are slices of it
	off int
	// tags and fields are slabs the events' slices are cut from.
	tags   []sdk.Tag
	fields []sdk.Field
	// interned holds the batch's tag values (and names and keys that differ
	// from the previous event's).
	interned map[string]string
}

// maxInterned bounds the interning table: tags are meant to have few
// values, but nothing stops a configuration from making one unique.
const maxInterned = 4096

// intern returns a copy of s that the batch shares.
func (d *decoder) intern(s string) string {
	if v, ok := d.interned[s]; ok {
		return v
	}
	c := strings.Clone(s)
	if d.interned == nil {
		d.interned = make(map[string]string, 64)
	}
	if len(d.interned) < maxInterned {
		d.interned[c] = c
	}
	return c
}

// same returns want's copy of s when they are equal, else interns s: a
// name or key is most often the previous event's.
func (d *decoder) same(s, want string) string {
	if s == want {
		return want
	}
	return d.intern(s)
}

func (d *decoder) varint() (uint64, error) {
	// Tags, lengths and small numbers fit one byte: most varints of a batch.
	if d.off < len(d.s) && d.s[d.off] < 0x80 {
		d.off++
		return uint64(d.s[d.off-1]), nil
	}
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.off >= len(d.s) {
			return 0, errTruncated
		}
		c := d.s[d.off]
		d.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errTruncated
}

func (d *decoder) tag() (protowire.Number, protowire.Type, error) {
	v, err := d.varint()
	if err != nil {
		return 0, 0, err
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber {
		return 0, 0, errTruncated
	}
	return num, typ, nil
}

// sub reads a length prefix and returns the end offset of the submessage.
func (d *decoder) sub() (int, error) {
	n, err := d.varint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.s)-d.off) {
		return 0, errTruncated
	}
	return d.off + int(n), nil
}

func (d *decoder) str() (string, error) {
	end, err := d.sub()
	if err != nil {
		return "", err
	}
	s := d.s[d.off:end]
	d.off = end
	return s, nil
}

func (d *decoder) skip(num protowire.Number, typ protowire.Type) error {
	switch typ {
	case protowire.VarintType:
		_, err := d.varint()
		return err
	case protowire.Fixed64Type:
		if len(d.s)-d.off < 8 {
			return errTruncated
		}
		d.off += 8
	case protowire.Fixed32Type:
		if len(d.s)-d.off < 4 {
			return errTruncated
		}
		d.off += 4
	case protowire.BytesType:
		end, err := d.sub()
		if err != nil {
			return err
		}
		d.off = end
	default:
		return fmt.Errorf("field %d: unsupported wire type %d", num, typ)
	}
	return nil
}

func (d *decoder) event(e *sdk.Event, prev *sdk.Event, end int) error {
	tagStart, fieldStart := len(d.tags), len(d.fields)
	for d.off < end {
		num, typ, err := d.tag()
		if err != nil {
			return err
		}
		switch {
		case num == eventName && typ == protowire.BytesType:
			name, err := d.str()
			if err != nil {
				return err
			}
			if prev != nil {
				e.Name = d.same(name, prev.Name)
			} else {
				e.Name = d.intern(name)
			}
		case num == eventOp && typ == protowire.VarintType:
			v, err := d.varint()
			if err != nil {
				return err
			}
			if v > uint64(sdk.OpUpsert) {
				return fmt.Errorf("unknown op %d", v)
			}
			e.Op = sdk.Op(v)
		case num == eventTags && typ == protowire.BytesType:
			k, v, err := d.tagPair()
			if err != nil {
				return fmt.Errorf("tag: %w", err)
			}
			if j := len(d.tags) - tagStart; prev != nil && j < len(prev.Tags) {
				k = d.same(k, prev.Tags[j].Key)
			} else {
				k = d.intern(k)
			}
			d.tags = append(d.tags, sdk.Tag{Key: k, Value: d.intern(v)})
		case num == eventFields && typ == protowire.BytesType:
			f, err := d.field()
			if err != nil {
				return fmt.Errorf("field %q: %w", f.Key, err)
			}
			if j := len(d.fields) - fieldStart; prev != nil && j < len(prev.Fields) {
				f.Key = d.same(f.Key, prev.Fields[j].Key)
			} else {
				f.Key = d.intern(f.Key)
			}
			d.fields = append(d.fields, f)
		case num == eventTime && typ == protowire.BytesType:
			if e.Time, err = d.time(); err != nil {
				return fmt.Errorf("time: %w", err)
			}
		default:
			if err := d.skip(num, typ); err != nil {
				return err
			}
		}
	}
	if d.off != end {
		return errTruncated
	}
	// A slab may have been reallocated while this event was read, but the
	// event's own range is complete in the current one. The three-index
	// slices keep an append to one event's tags from overwriting the next's.
	if n := len(d.tags); n > tagStart {
		e.Tags = d.tags[tagStart:n:n]
	}
	if n := len(d.fields); n > fieldStart {
		e.Fields = d.fields[fieldStart:n:n]
	}
	return nil
}

func (d *decoder) tagPair() (k, v string, err error) {
	end, err := d.sub()
	if err != nil {
		return "", "", err
	}
	for d.off < end {
		num, typ, err := d.tag()
		if err != nil {
			return "", "", err
		}
		switch {
		case num == pairKey && typ == protowire.BytesType:
			k, err = d.str()
		case num == pairValue && typ == protowire.BytesType:
			v, err = d.str()
		default:
			err = d.skip(num, typ)
		}
		if err != nil {
			return "", "", err
		}
	}
	if d.off != end {
		return "", "", errTruncated
	}
	return k, v, nil
}

func (d *decoder) field() (f sdk.Field, err error) {
	end, err := d.sub()
	if err != nil {
		return f, err
	}
	for d.off < end {
		num, typ, err := d.tag()
		if err != nil {
			return f, err
		}
		switch {
		case num == pairKey && typ == protowire.BytesType:
			f.Key, err = d.str()
		case num == pairValue && typ == protowire.BytesType:
			f.Value, err = d.value()
		default:
			err = d.skip(num, typ)
		}
		if err != nil {
			return f, err
		}
	}
	if d.off != end {
		return f, errTruncated
	}
	return f, nil
}

func (d *decoder) value() (any, error) {
	end, err := d.sub()
	if err != nil {
		return nil, err
	}
	// A oneof keeps the last member set, as protobuf parsers do.
	var v any
	for d.off < end {
		num, typ, err := d.tag()
		if err != nil {
			return nil, err
		}
		switch {
		case num == valueInt && typ == protowire.VarintType:
			x, err := d.varint()
			if err != nil {
				return nil, err
			}
			v = protowire.DecodeZigZag(x)
		case num == valueFloat && typ == protowire.Fixed64Type:
			if end-d.off < 8 {
				return nil, errTruncated
			}
			var x uint64
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(d.s[d.off+i])
			}
			d.off += 8
			v = math.Float64frombits(x)
		case num == valueString && typ == protowire.BytesType:
			x, err := d.str()
			if err != nil {
				return nil, err
			}
			v = strings.Clone(x)
		case num == valueBool && typ == protowire.VarintType:
			x, err := d.varint()
			if err != nil {
				return nil, err
			}
			v = x != 0
		case num == valueBytes && typ == protowire.BytesType:
			s, err := d.str()
			if err != nil {
				return nil, err
			}
			v = []byte(s)
		case num == valueTime && typ == protowire.BytesType:
			if v, err = d.time(); err != nil {
				return nil, err
			}
		default:
			if err := d.skip(num, typ); err != nil {
				return nil, err
			}
		}
	}
	if d.off != end {
		return nil, errTruncated
	}
	return v, nil
}

func (d *decoder) time() (time.Time, error) {
	end, err := d.sub()
	if err != nil {
		return time.Time{}, err
	}
	var sec, nsec int64
	for d.off < end {
		num, typ, err := d.tag()
		if err != nil {
			return time.Time{}, err
		}
		switch {
		case num == timeSeconds && typ == protowire.VarintType:
			x, err := d.varint()
			if err != nil {
				return time.Time{}, err
			}
			sec = int64(x)
		case num == timeNanos && typ == protowire.VarintType:
			x, err := d.varint()
			if err != nil {
				return time.Time{}, err
			}
			nsec = int64(int32(x))
		default:
			if err := d.skip(num, typ); err != nil {
				return time.Time{}, err
			}
		}
	}
	if d.off != end {
		return time.Time{}, errTruncated
	}
	if nsec < 0 || nsec > 999_999_999 {
		return time.Time{}, fmt.Errorf("nanos %d out of range", nsec)
	}
	return timeFrom(sec, nsec), nil
}

// zeroUnix is the Unix time of time.Time{}: a Time holding it comes back as
// the zero time, so that a zero field value survives the trip.
var zeroUnix = time.Time{}.Unix()

func timeFrom(sec, nsec int64) time.Time {
	if sec == zeroUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec).UTC()
}

// FromTime converts an instant to its wire form; the zero time is nil.
func FromTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{Seconds: t.Unix(), Nanos: int32(t.Nanosecond())}
}

// ToTime is the inverse of FromTime.
func ToTime(t *Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return timeFrom(t.Seconds, int64(t.Nanos))
}
