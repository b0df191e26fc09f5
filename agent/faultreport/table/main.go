// Command table prints a fault report (the JSON lines make test-faults
// writes) as the Markdown table docs/reliability.md holds.
package main

import (
	"fmt"
	"os"

	"github.com/rowflux/rowflux/agent/faultreport"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: table REPORT.jsonl")
		os.Exit(2)
	}
	rows, err := faultreport.Read(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
	fmt.Print(faultreport.Markdown(rows))
}
