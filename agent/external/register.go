package external

import (
	_ "embed"

	"github.com/rowflux/rowflux/sdk"
)

var (
	//go:embed inputs.conf
	inputSample string
	//go:embed processors.conf
	processorSample string
	//go:embed outputs.conf
	outputSample string
)

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{Name: "external", SampleConfig: inputSample,
		Description: "an input in its own binary, served with sdk/plugin", New: func() sdk.Input { return newInput() }})
	sdk.RegisterProcessor(sdk.Registration[sdk.Processor]{Name: "external", SampleConfig: processorSample,
		Description: "a processor in its own binary, served with sdk/plugin", New: func() sdk.Processor { return newProcessor() }})
	sdk.RegisterOutput(sdk.Registration[sdk.Output]{Name: "external", SampleConfig: outputSample,
		Description: "an output in its own binary, served with sdk/plugin", New: func() sdk.Output { return newOutput() }})
}
