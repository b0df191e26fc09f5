package plugin

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// The replies batchCodec writes read back, with generated code, as the
// messages they were made from.
func TestBatchCodecWritesTheMessage(t *testing.T) {
	// Each reply gets its own buffer: marshalling hands it back to the pool.
	events := func() []byte {
		b, err := pluginv1.AppendEvents(replyBuffer(10), sdk.Batch{{Name: "m", Op: sdk.OpInsert, Fields: []sdk.Field{{Key: "v", Value: int64(3)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	counts := &pluginv1.Counts{Values: []int64{4, 0, 9}}
	tests := []struct {
		name string
		msg  proto.Message
		into proto.Message
	}{
		{"batch reply", &pluginv1.BatchResponse{Batch: &pluginv1.Batch{Events: events()}, Counts: counts}, &pluginv1.BatchResponse{}},
		{"empty batch reply", &pluginv1.BatchResponse{Batch: &pluginv1.Batch{}, Counts: counts}, &pluginv1.BatchResponse{}},
		{"input batch", &pluginv1.RunResponse{Batch: &pluginv1.Batch{Events: events()}, Position: &pluginv1.Position{Data: []byte{1, 2}}, Counts: counts}, &pluginv1.RunResponse{}},
		{"input position only", &pluginv1.RunResponse{Position: &pluginv1.Position{Data: []byte{7}}}, &pluginv1.RunResponse{}},
		{"other messages", &pluginv1.ConfigureResponse{PluginName: "x", Stateful: true}, &pluginv1.ConfigureResponse{}},
	}
	c := newBatchCodec()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := proto.Clone(tt.msg)
			out, err := c.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			data := out.Materialize()
			out.Free()
			if err := proto.Unmarshal(data, tt.into); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(tt.into, want) {
				t.Fatalf("read back %v, want %v", tt.into, want)
			}
		})
	}
}
