package main

// The history format kvcheck reads: JSON lines, one completed or unknown-outcome operation per
// line (blank lines ignored). docs/linearizability.md is the reference; in short:
//
//	{"process":0,"op":"put","key":"k","value":"a","call":10,"return":20,"output":{"version":7}}
//	{"process":1,"op":"get","key":"k","call":15,"return":30,"output":{"found":true,"value":"a","version":7}}
//	{"process":2,"op":"incrBy","key":"n","delta":5,"call":40,"return":null,"error":"SLICEKV_TIMEOUT"}
//
// Times are integers (nanoseconds from any common origin). "return": null (or absent) marks an
// operation whose outcome is unknown: it may or may not have taken effect, and its output is
// ignored. Keys and values are JSON strings; a recorder maps each byte to the code point of
// the same number (latin1), so any byte string round-trips and decimal integers read as text.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// opKind is one of the SDK's calls.
type opKind uint8

const (
	opGet opKind = iota + 1
	opPut
	opPutIfVersion
	opDelete
	opDeleteIfVersion
	opIncrBy
)

var opKinds = map[string]opKind{
	"get": opGet, "put": opPut, "putIfVersion": opPutIfVersion,
	"delete": opDelete, "deleteIfVersion": opDeleteIfVersion, "incrBy": opIncrBy,
}

var opNames = map[opKind]string{
	opGet: "get", opPut: "put", opPutIfVersion: "putIfVersion",
	opDelete: "delete", opDeleteIfVersion: "deleteIfVersion", opIncrBy: "incrBy",
}

// int64Text is an int64 given either as a JSON number or as a decimal string (JavaScript
// numbers lose precision beyond 2^53; recorders write larger integers as strings).
type int64Text struct {
	value int64
	set   bool
}

func (n *int64Text) UnmarshalJSON(data []byte) error {
	text := string(bytes.TrimSpace(data))
	if text == "null" {
		return nil
	}
	if len(text) >= 2 && text[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		text = s
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return fmt.Errorf("not an int64: %s", string(data))
	}
	n.value, n.set = v, true
	return nil
}

// line is one history line as written.
type line struct {
	Process         *int      `json:"process"`
	Op              string    `json:"op"`
	Key             *string   `json:"key"`
	Value           *string   `json:"value"`
	ExpectedVersion int64Text `json:"expectedVersion"`
	Delta           int64Text `json:"delta"`
	Call            int64Text `json:"call"`
	Return          int64Text `json:"return"`
	Output          *lineOut  `json:"output"`
	Error           string    `json:"error"`
}

type lineOut struct {
	Found          *bool     `json:"found"`
	Value          *string   `json:"value"`
	Version        int64Text `json:"version"`
	Ok             *bool     `json:"ok"`
	CurrentVersion int64Text `json:"currentVersion"`
	Existed        *bool     `json:"existed"`
	Integer        int64Text `json:"integer"`
	Error          string    `json:"error"`
	Detail         string    `json:"detail"`
}

// kvInput and kvOutput are what the model sees; both are comparable values.
type kvInput struct {
	kind     opKind
	key      string
	value    string
	expected int64
	delta    int64
}

type kvOutput struct {
	unknown bool   // the outcome is unknown: the op may or may not have taken effect
	failed  string // a definite error code: the op took no effect
	detail  string // the error's detail (incrBy: VALUE_NOT_INTEGER, INCREMENT_OVERFLOW)
	found   bool   // get: the key was present; delete: it existed; CAS: ok
	value   string
	version int64 // 0 when not reported (incrBy through the SDK)
	integer int64
}

// parsedOp is one operation before it becomes a porcupine.Operation.
type parsedOp struct {
	process int
	input   kvInput
	output  kvOutput
	call    int64
	ret     int64 // math.MaxInt64 when the outcome is unknown
}

// readHistory parses JSON lines; an error names the line.
func readHistory(r io.Reader) ([]parsedOp, error) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	var ops []parsedOp
	number := 0
	for scanner.Scan() {
		number++
		text := bytes.TrimSpace(scanner.Bytes())
		if len(text) == 0 {
			continue
		}
		op, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", number, err)
		}
		ops = append(ops, op)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	return ops, nil
}

func parseLine(text []byte) (parsedOp, error) {
	var l line
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&l); err != nil {
		return parsedOp{}, err
	}
	kind, known := opKinds[l.Op]
	if !known {
		return parsedOp{}, fmt.Errorf("unknown op %q", l.Op)
	}
	if l.Process == nil || *l.Process < 0 || l.Key == nil || !l.Call.set {
		return parsedOp{}, errors.New("process (>= 0), key and call are required")
	}
	input, err := parseInput(kind, &l)
	if err != nil {
		return parsedOp{}, err
	}
	op := parsedOp{process: *l.Process, input: input, call: l.Call.value, ret: math.MaxInt64}
	if !l.Return.set {
		op.output = kvOutput{unknown: true}
		return op, nil
	}
	if l.Return.value < l.Call.value || l.Return.value == math.MaxInt64 {
		return parsedOp{}, errors.New("return must be at or after call")
	}
	op.ret = l.Return.value
	if l.Output == nil {
		return parsedOp{}, errors.New("an op with a return time needs an output")
	}
	op.output, err = parseOutput(kind, l.Output)
	return op, err
}

func parseInput(kind opKind, l *line) (kvInput, error) {
	input := kvInput{kind: kind, key: *l.Key}
	if kind == opPut || kind == opPutIfVersion {
		if l.Value == nil {
			return input, errors.New("value is required")
		}
		input.value = *l.Value
	}
	if kind == opPutIfVersion || kind == opDeleteIfVersion {
		if !l.ExpectedVersion.set || l.ExpectedVersion.value < 0 {
			return input, errors.New("expectedVersion (>= 0) is required")
		}
		input.expected = l.ExpectedVersion.value
	}
	if kind == opIncrBy {
		if !l.Delta.set {
			return input, errors.New("delta is required")
		}
		input.delta = l.Delta.value
	}
	return input, nil
}

func parseOutput(kind opKind, out *lineOut) (kvOutput, error) {
	if out.Error != "" {
		return kvOutput{failed: out.Error, detail: out.Detail}, nil
	}
	missing := func(field string) (kvOutput, error) {
		return kvOutput{}, fmt.Errorf("%s: output needs %s", opNames[kind], field)
	}
	switch kind {
	case opGet:
		if out.Found == nil || (*out.Found && (out.Value == nil || !out.Version.set)) {
			return missing("found (and value, version when found)")
		}
		result := kvOutput{found: *out.Found, version: out.Version.value}
		if out.Value != nil {
			result.value = *out.Value
		}
		return result, nil
	case opPut:
		if !out.Version.set {
			return missing("version")
		}
		return kvOutput{version: out.Version.value}, nil
	case opPutIfVersion, opDeleteIfVersion:
		if out.Ok == nil || (!*out.Ok && !out.CurrentVersion.set) || (*out.Ok && kind == opPutIfVersion && !out.Version.set) {
			return missing("ok and version (ok) or currentVersion (not ok)")
		}
		if *out.Ok {
			return kvOutput{found: true, version: out.Version.value}, nil
		}
		return kvOutput{found: false, version: out.CurrentVersion.value}, nil
	case opDelete:
		if out.Existed == nil {
			return missing("existed")
		}
		return kvOutput{found: *out.Existed}, nil
	default:
		if !out.Integer.set {
			return missing("integer")
		}
		return kvOutput{integer: out.Integer.value, version: out.Version.value}, nil
	}
}
