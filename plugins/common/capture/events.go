package capture

import (
	"encoding/hex"
	"strconv"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// builder turns rows into events with one backing array per batch for
// tags and one for fields, so allocations are per batch, not per event.
type builder struct {
	tags   []sdk.Tag
	fields []sdk.Field
}

func (b *builder) event(t *Table, op sdk.Op, values []any, at time.Time) sdk.Event {
	start := len(b.tags)
	for _, i := range t.tagOrder {
		if s, ok := tagText(values[i]); ok {
			b.tags = append(b.tags, sdk.Tag{Key: t.Columns[i].Out, Value: s})
		}
	}
	tags := b.tags[start:len(b.tags):len(b.tags)]
	start = len(b.fields)
	for _, i := range t.fieldOrder {
		b.fields = append(b.fields, sdk.Field{Key: t.Columns[i].Out, Value: values[i]})
	}
	fields := b.fields[start:len(b.fields):len(b.fields)]
	return sdk.Event{Name: t.EventName, Op: op, Tags: tags, Fields: fields, Time: at}
}

// reset starts a new batch of about n events shaped like t's.
func (b *builder) reset(t *Table, n int) {
	b.tags = make([]sdk.Tag, 0, n*len(t.tagOrder))
	b.fields = make([]sdk.Field, 0, n*len(t.fieldOrder))
}

// tagText formats a tag value; a NULL gives no tag.
func tagText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case []byte:
		return hex.EncodeToString(x), true
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	}
	return "", false
}
