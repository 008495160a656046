// kvcheck: checks a slicekv client history for linearizability with Porcupine, using a
// key-value model partitioned by key (model.go). Input format: history.go and
// docs/linearizability.md.
//
//	kvcheck [-timeout 60s] [-visualize out.html] history.jsonl   ("-" reads stdin)
//
// Prints one JSON line {"linearizable":bool,"ops":n,"partitions":n,"seconds":s} and exits 0 when
// the history is linearizable, 1 when it is not, 2 on bad input or when the check did not finish
// within -timeout (then the line carries "error" instead).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

const (
	exitLinearizable    = 0
	exitNotLinearizable = 1
	exitBadInput        = 2
)

type report struct {
	Linearizable bool    `json:"linearizable"`
	Ops          int     `json:"ops"`
	Partitions   int     `json:"partitions"`
	Seconds      float64 `json:"seconds"`
	Visualized   string  `json:"visualization,omitempty"`
	Error        string  `json:"error,omitempty"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("kvcheck", flag.ContinueOnError)
	flags.SetOutput(stderr)
	timeout := flags.Duration("timeout", 60*time.Second, "bound on the check (> 0); exceeding it exits 2")
	visualize := flags.String("visualize", "", "when not linearizable, write Porcupine's HTML visualization here")
	if err := flags.Parse(args); err != nil {
		return exitBadInput
	}
	fail := func(err error) int {
		_ = json.NewEncoder(stdout).Encode(report{Error: err.Error()})
		fmt.Fprintln(stderr, "kvcheck:", err)
		return exitBadInput
	}
	if flags.NArg() != 1 || *timeout <= 0 {
		return fail(errors.New("usage: kvcheck [-timeout d (> 0)] [-visualize path] <history.jsonl | ->"))
	}
	ops, err := readFrom(flags.Arg(0), stdin)
	if err != nil {
		return fail(err)
	}
	history := toOperations(ops)
	started := time.Now()
	var result porcupine.CheckResult
	var info porcupine.LinearizationInfo
	if *visualize != "" {
		result, info = porcupine.CheckOperationsVerbose(kvModel, history, *timeout)
	} else {
		result = porcupine.CheckOperationsTimeout(kvModel, history, *timeout)
	}
	out := report{Ops: len(history), Partitions: len(partitionByKey(history)), Seconds: time.Since(started).Seconds()}
	switch result {
	case porcupine.Ok:
		out.Linearizable = true
	case porcupine.Illegal:
		if *visualize != "" {
			if err := porcupine.VisualizePath(kvModel, info, *visualize); err != nil {
				fmt.Fprintln(stderr, "kvcheck: visualization:", err)
			} else {
				out.Visualized = *visualize
			}
		}
	default:
		out.Error = fmt.Sprintf("the check did not finish within %s", *timeout)
	}
	_ = json.NewEncoder(stdout).Encode(out)
	switch {
	case out.Error != "":
		return exitBadInput
	case out.Linearizable:
		return exitLinearizable
	}
	return exitNotLinearizable
}

func readFrom(path string, stdin io.Reader) ([]parsedOp, error) {
	if path == "-" {
		return readHistory(stdin)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return readHistory(file)
}

// toOperations drops reads whose outcome is unknown (they constrain nothing and, with return
// time +inf, only widen the search) and gives the rest to porcupine.
func toOperations(ops []parsedOp) []porcupine.Operation {
	history := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.input.kind == opGet && op.output.unknown {
			continue
		}
		history = append(history, porcupine.Operation{
			ClientId: op.process, Input: op.input, Output: op.output, Call: op.call, Return: op.ret,
		})
	}
	return history
}
