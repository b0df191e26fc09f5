package agent

import (
	"github.com/rowflux/rowflux/agent/checkpoint"
	"github.com/rowflux/rowflux/agent/config"
	"github.com/rowflux/rowflux/agent/selfmetrics"
	"github.com/rowflux/rowflux/sdk"
)

func newRegistryForTest() *selfmetrics.Registry { return selfmetrics.NewRegistry() }

func instanceForTest() config.Instance {
	return config.Instance{Kind: sdk.KindProcessor, Name: "window", ID: "processors.window"}
}

// corruptProcessorState rewrites the checkpoint in dir with a processor
// state that sumProcessor refuses, keeping the file itself valid.
func corruptProcessorState(dir string) error {
	s, err := checkpoint.Open(dir)
	if err != nil {
		return err
	}
	st, err := s.Load()
	if err != nil {
		return err
	}
	st.Processors["processors.agenttest_sum"] = []byte("not a number")
	return s.Save(st)
}
