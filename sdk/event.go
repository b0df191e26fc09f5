package sdk

import (
	"fmt"
	"sort"
	"time"
)

// Op says what happened to a captured row. Computed metrics carry OpNone.
type Op uint8

const (
	OpNone Op = iota
	OpInsert
	OpUpdate
	OpDelete
	// OpUpsert: a query-based strategy saw the row's latest state and cannot
	// tell whether it was inserted or updated.
	OpUpsert
)

var opNames = [...]string{OpNone: "", OpInsert: "insert", OpUpdate: "update", OpDelete: "delete", OpUpsert: "upsert"}

// String returns the lower-case name of the operation, "" for OpNone.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n == s {
			return Op(i), nil
		}
	}
	return OpNone, fmt.Errorf("unknown op %q (want insert, update, delete, upsert or empty)", s)
}

// Tag is a low-cardinality dimension. An event keeps its tags sorted by key.
type Tag struct {
	Key   string
	Value string
}

// Field is a named value. Value holds one of: int64, float64, string, bool,
// []byte, time.Time or nil. Use NormalizeValue to convert other Go types.
type Field struct {
	Key   string
	Value any
}

// Event is the one record type that flows through a pipeline.
type Event struct {
	// Name is the source table for captured changes, or the measurement name
	// for computed metrics.
	Name string
	Op   Op
	// Tags are sorted by key; use SetTag or SortTags to keep them so.
	Tags []Tag
	// Fields keep the order in which they were added.
	Fields []Field
	// Time is the commit time when the source knows it, else the capture
	// time; for window results, the window end.
	Time time.Time
}

// Batch is the unit that moves between pipeline stages.
//
// Ownership: whoever receives a batch from the pipeline owns it until it hands
// it on. A processor may modify the batch it is given and return it. Outputs
// must treat batches as read-only (several outputs see the same batch) and
// must not keep a reference after Write returns.
type Batch []Event

// Tag returns the value of the tag with the given key.
func (e *Event) Tag(key string) (string, bool) {
	i := sort.Search(len(e.Tags), func(i int) bool { return e.Tags[i].Key >= key })
	if i < len(e.Tags) && e.Tags[i].Key == key {
		return e.Tags[i].Value, true
	}
	return "", false
}

// SetTag adds or replaces a tag, keeping tags sorted.
func (e *Event) SetTag(key, value string) {
	i := sort.Search(len(e.Tags), func(i int) bool { return e.Tags[i].Key >= key })
	if i < len(e.Tags) && e.Tags[i].Key == key {
		e.Tags[i].Value = value
		return
	}
	e.Tags = append(e.Tags, Tag{})
	copy(e.Tags[i+1:], e.Tags[i:])
	e.Tags[i] = Tag{Key: key, Value: value}
}

// RemoveTag deletes a tag and reports whether it was present.
func (e *Event) RemoveTag(key string) bool {
	i := sort.Search(len(e.Tags), func(i int) bool { return e.Tags[i].Key >= key })
	if i < len(e.Tags) && e.Tags[i].Key == key {
		e.Tags = append(e.Tags[:i], e.Tags[i+1:]...)
		return true
	}
	return false
}

// Field returns the value of the first field with the given key.
func (e *Event) Field(key string) (any, bool) {
	for i := range e.Fields {
		if e.Fields[i].Key == key {
			return e.Fields[i].Value, true
		}
	}
	return nil, false
}

// SetField replaces the value of an existing field or appends a new one.
func (e *Event) SetField(key string, value any) {
	for i := range e.Fields {
		if e.Fields[i].Key == key {
			e.Fields[i].Value = value
			return
		}
	}
	e.Fields = append(e.Fields, Field{Key: key, Value: value})
}

// RemoveField deletes a field, keeping the order of the others.
func (e *Event) RemoveField(key string) bool {
	for i := range e.Fields {
		if e.Fields[i].Key == key {
			e.Fields = append(e.Fields[:i], e.Fields[i+1:]...)
			return true
		}
	}
	return false
}

// Clone returns a deep copy of the event's tag and field slices, so the copy
// can be modified without affecting the original. []byte values are copied.
func (e *Event) Clone() Event {
	c := *e
	c.Tags = append([]Tag(nil), e.Tags...)
	c.Fields = make([]Field, len(e.Fields))
	for i, f := range e.Fields {
		if b, ok := f.Value.([]byte); ok {
			f.Value = append([]byte(nil), b...)
		}
		c.Fields[i] = f
	}
	return c
}

// SortTags sorts tags by key (stable, so that among duplicate keys the first
// added stays first).
func SortTags(tags []Tag) {
	sort.SliceStable(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
}

// NormalizeValue converts a Go value to one of the field types events carry:
// signed and unsigned integers become int64 (an unsigned value above
// math.MaxInt64 is an error), float32 becomes float64, and the supported
// types pass unchanged.
func NormalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, int64, float64, string, bool, []byte, time.Time:
		return v, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > 1<<63-1 {
			return nil, fmt.Errorf("value %d overflows int64", x)
		}
		return int64(x), nil
	case uint64:
		if x > 1<<63-1 {
			return nil, fmt.Errorf("value %d overflows int64", x)
		}
		return int64(x), nil
	case float32:
		return float64(x), nil
	default:
		return nil, fmt.Errorf("unsupported field type %T", v)
	}
}
