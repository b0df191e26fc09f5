package sdk

import (
	"context"
	"strings"
	"testing"
)

type nopOutput struct{}

func (nopOutput) Write(context.Context, Batch) error { return nil }

func TestRegistryListsAndLooksUp(t *testing.T) {
	RegisterOutput(Registration[Output]{Name: "sdktest_b", Description: "b", SampleConfig: "[[outputs.sdktest_b]]\n", New: func() Output { return nopOutput{} }})
	RegisterOutput(Registration[Output]{Name: "sdktest_a", Description: "a", New: func() Output { return nopOutput{} }})
	reg, ok := LookupOutput("sdktest_b")
	if !ok || reg.New() == nil || reg.SampleConfig != "[[outputs.sdktest_b]]\n" {
		t.Fatal("lookup failed")
	}
	if _, ok := LookupInput("sdktest_b"); ok {
		t.Fatal("an output was found among inputs")
	}
	var names []string
	for _, p := range Plugins(KindOutput) {
		if strings.HasPrefix(p.Name, "sdktest_") {
			names = append(names, p.Name)
			if p.Kind != KindOutput {
				t.Errorf("%s kind %s", p.Name, p.Kind)
			}
		}
	}
	if strings.Join(names, ",") != "sdktest_a,sdktest_b" {
		t.Fatalf("not sorted by name: %v", names)
	}
}

func TestRegistryPanics(t *testing.T) {
	RegisterProcessor(Registration[Processor]{Name: "sdktest_dup", New: func() Processor { return nil }})
	cases := map[string]func(){
		"duplicate": func() {
			RegisterProcessor(Registration[Processor]{Name: "sdktest_dup", New: func() Processor { return nil }})
		},
		"no name": func() { RegisterInput(Registration[Input]{New: func() Input { return nil }}) },
		"no New":  func() { RegisterInput(Registration[Input]{Name: "sdktest_nonew"}) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Fatal("no panic")
				} else if name == "duplicate" && r != "sdk: processors.sdktest_dup registered twice" {
					t.Fatalf("panic message %v", r)
				}
			}()
			f()
		})
	}
}
