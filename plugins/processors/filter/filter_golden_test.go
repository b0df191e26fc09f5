package filter

import (
	"testing"

	"github.com/rowflux/rowflux/plugins/common/processortest"
)

func TestGolden(t *testing.T) {
	processortest.Run(t, "filter", "testdata/*.golden")
}
