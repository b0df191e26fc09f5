package window

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/sdk"
)

func TestSampleConfigAndRegistration(t *testing.T) {
	reg, ok := sdk.LookupProcessor("window")
	if !ok || reg.Description != "Aggregate events in tumbling, hopping or session windows with expressions" {
		t.Fatalf("registration: %+v", reg)
	}
	if reg.SampleConfig != sampleConfig || !strings.Contains(sampleConfig, "[[processors.window]]") {
		t.Fatal("sample config not embedded")
	}
	var doc struct {
		Processors struct {
			Window []*Window `toml:"window"`
		} `toml:"processors"`
	}
	doc.Processors.Window = []*Window{New()}
	md, err := toml.Decode(sampleConfig, &doc)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("undecoded keys %v", und)
	}
	w := doc.Processors.Window[0]
	w.SetClock(nil) // the decoder may have replaced the element New made
	if err := w.Init(sdk.Env{}); err != nil {
		t.Fatalf("sample config does not initialise: %v", err)
	}
	if w.Measurement != "volume" || len(w.Fields) != 2 || w.MaxGroups != DefaultMaxGroups {
		t.Fatalf("%+v", w)
	}
}
