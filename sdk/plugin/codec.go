package plugin

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec wrapped here
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// batchCodec is gRPC's protobuf codec, except that the replies carrying a
// batch (BatchResponse, RunResponse) go out without copying the encoded
// events: the plugin encodes them into a buffer from gRPC's pool, and the
// codec hands that buffer to the transport, which returns it to the pool
// once written. A plugin process then allocates no buffer per reply, which
// keeps its garbage collector quiet. The bytes on the wire are those of
// proto.Marshal, with the batch field first.
type batchCodec struct{ base encoding.CodecV2 }

func newBatchCodec() batchCodec { return batchCodec{base: encoding.GetCodecV2("proto")} }

func (batchCodec) Name() string { return "proto" }

func (c batchCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

func (c batchCodec) Marshal(v any) (mem.BufferSlice, error) {
	var events []byte
	var rest any
	switch m := v.(type) {
	case *pluginv1.BatchResponse:
		events = m.GetBatch().GetEvents()
		rest = &pluginv1.BatchResponse{Counts: m.Counts}
	case *pluginv1.RunResponse:
		events = m.GetBatch().GetEvents()
		rest = &pluginv1.RunResponse{Position: m.Position, Counts: m.Counts}
	default:
		return c.base.Marshal(v)
	}
	if len(events) == 0 {
		return c.base.Marshal(v)
	}
	tail, err := c.base.Marshal(rest)
	if err != nil {
		return nil, err
	}
	// Field 1 of both replies is a Batch, whose field 1 is the events.
	inner := 1 + protowire.SizeBytes(len(events))
	head := protowire.AppendTag(make([]byte, 0, 16), 1, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(inner))
	head = protowire.AppendTag(head, 1, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(events)))
	out := mem.BufferSlice{mem.SliceBuffer(head), mem.NewBuffer(&events, mem.DefaultBufferPool())}
	return append(out, tail...), nil
}

// replyBuffer is an empty buffer for n bytes of encoded events, from the
// pool batchCodec returns it to.
func replyBuffer(n int) []byte {
	return (*mem.DefaultBufferPool().Get(n))[:0]
}
