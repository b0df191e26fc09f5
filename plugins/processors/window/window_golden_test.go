package window_test

import (
	"testing"

	"github.com/rowflux/rowflux/plugins/common/processortest"
	_ "github.com/rowflux/rowflux/plugins/processors/window" // registers "window"
)

func TestGolden(t *testing.T) {
	processortest.Run(t, "window", "testdata/*.golden")
}
