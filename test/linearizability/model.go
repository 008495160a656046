package main

// The sequential specification of one key, as the engine implements it (dataplane/store/store.ts
// put, remove, incrBy, checkVersion) and the SDK reports it (client/client.ts). Porcupine checks
// each key's sub-history on its own: keys are independent objects (no op touches two keys), and
// linearizability is compositional (Herlihy and Wing), so the whole history is linearizable if
// and only if every key's is. See docs/linearizability.md.
//
// Versions. Every successful write gives the key a version greater than every version it had
// before (across delete and re-create too: versions come from one per-pod counter that also
// observes versions arriving by recovery or migration). The model does not know the counter, so
// it keeps bounds instead of numbers where the SDK does not say the version:
//   - versionKnown: the current version is exactly `version` (0 when absent);
//   - otherwise the key exists with a version of at least `version`, and the first op that
//     reports the version (get, a CAS) pins it;
//   - floor: every later write must return a version greater than floor.
// An incrBy through the SDK returns only the integer, so after one the version is unknown.
//
// Unknown outcomes. An op with an unknown outcome has return time +inf, so porcupine may place
// it anywhere after its call, including after every other op, where it has no visible effect.
// The step therefore applies such an op whenever it could have succeeded; "it did not happen"
// is the placement at the end. Its output is ignored.

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"

	"github.com/anishathalye/porcupine"
)

type kvState struct {
	exists       bool
	value        string
	version      int64
	versionKnown bool
	floor        int64
}

var absent = kvState{versionKnown: true}

// versionCould says whether the current version may be v.
func (s kvState) versionCould(v int64) bool {
	if !s.exists {
		return v == 0
	}
	if s.versionKnown {
		return v == s.version
	}
	return v >= s.version
}

// pinned is s with its version now known to be v (versionCould(v) must hold).
func (s kvState) pinned(v int64) kvState {
	if s.exists && !s.versionKnown {
		s.version, s.versionKnown = v, true
		if v > s.floor {
			s.floor = v
		}
	}
	return s
}

// written is s after a write of value; version 0 means "not reported".
func (s kvState) written(value string, version int64) kvState {
	next := kvState{exists: true, value: value}
	if version == 0 {
		next.version, next.versionKnown, next.floor = s.floor+1, false, s.floor+1
	} else {
		next.version, next.versionKnown, next.floor = version, true, version
	}
	return next
}

// deleted is s after a delete: the key is absent (version 0 for CAS); floor keeps later
// versions above the deleted one.
func (s kvState) deleted() kvState {
	return kvState{versionKnown: true, floor: s.floor}
}

// integerOf parses a value as incrBy does: canonical decimal int64 text.
func integerOf(value string) (int64, bool) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != value {
		return 0, false
	}
	return n, true
}

// incremented is the current integer plus delta; ok false when the value is not an integer
// (notInteger true) or the sum overflows int64.
func (s kvState) incremented(delta int64) (sum int64, ok bool, notInteger bool) {
	current := int64(0)
	if s.exists {
		n, isInteger := integerOf(s.value)
		if !isInteger {
			return 0, false, true
		}
		current = n
	}
	if (delta > 0 && current > math.MaxInt64-delta) || (delta < 0 && current < math.MinInt64-delta) {
		return 0, false, false
	}
	return current + delta, true, false
}

func stepUnknown(s kvState, in kvInput) kvState {
	switch in.kind {
	case opPut:
		return s.written(in.value, 0)
	case opPutIfVersion:
		if s.versionCould(in.expected) {
			return s.pinned(in.expected).written(in.value, 0)
		}
	case opDelete:
		if s.exists {
			return s.deleted()
		}
	case opDeleteIfVersion:
		if s.exists && in.expected != 0 && s.versionCould(in.expected) {
			return s.pinned(in.expected).deleted()
		}
	case opIncrBy:
		if sum, ok, _ := s.incremented(in.delta); ok {
			return s.written(strconv.FormatInt(sum, 10), 0)
		}
	}
	return s
}

// stepFailed: a definite error took no effect; an incrBy's says what the value was not.
func stepFailed(s kvState, in kvInput, out kvOutput) bool {
	if in.kind != opIncrBy || out.failed != "SLICEKV_INVALID_ARGUMENT" {
		return true
	}
	_, ok, notInteger := s.incremented(in.delta)
	switch out.detail {
	case "VALUE_NOT_INTEGER":
		return notInteger
	case "INCREMENT_OVERFLOW":
		return !ok && !notInteger
	}
	return true
}

func step(s kvState, in kvInput, out kvOutput) (bool, kvState) {
	if out.unknown {
		return true, stepUnknown(s, in)
	}
	if out.failed != "" {
		return stepFailed(s, in, out), s
	}
	switch in.kind {
	case opGet:
		if !out.found {
			return !s.exists, s
		}
		return s.exists && s.value == out.value && s.versionCould(out.version), s.pinned(out.version)
	case opPut:
		return out.version > s.floor, s.written(in.value, out.version)
	case opPutIfVersion:
		if out.found {
			before := s.pinned(in.expected)
			return s.versionCould(in.expected) && out.version > before.floor, before.written(in.value, out.version)
		}
		return out.version != in.expected && s.versionCould(out.version), s.pinned(out.version)
	case opDelete:
		return out.found == s.exists, s.deleted()
	case opDeleteIfVersion:
		if out.found {
			return s.exists && s.versionCould(in.expected), s.pinned(in.expected).deleted()
		}
		return (!s.exists || out.version != in.expected) && s.versionCould(out.version), s.pinned(out.version)
	default:
		sum, ok, _ := s.incremented(in.delta)
		return ok && sum == out.integer && (out.version == 0 || out.version > s.floor),
			s.written(strconv.FormatInt(sum, 10), out.version)
	}
}

func describeOperation(input, output interface{}) string {
	in, out := input.(kvInput), output.(kvOutput)
	var call string
	switch in.kind {
	case opPut:
		call = fmt.Sprintf("put(%q, %q)", in.key, in.value)
	case opPutIfVersion:
		call = fmt.Sprintf("putIfVersion(%q, %q, %d)", in.key, in.value, in.expected)
	case opDeleteIfVersion:
		call = fmt.Sprintf("deleteIfVersion(%q, %d)", in.key, in.expected)
	case opIncrBy:
		call = fmt.Sprintf("incrBy(%q, %d)", in.key, in.delta)
	default:
		call = fmt.Sprintf("%s(%q)", opNames[in.kind], in.key)
	}
	return call + " -> " + describeOutput(in.kind, out)
}

func describeOutput(kind opKind, out kvOutput) string {
	switch {
	case out.unknown:
		return "unknown"
	case out.failed != "":
		return out.failed + " " + out.detail
	case kind == opGet && out.found:
		return fmt.Sprintf("%q v%d", out.value, out.version)
	case kind == opGet:
		return "absent"
	case kind == opPut:
		return fmt.Sprintf("v%d", out.version)
	case kind == opPutIfVersion && out.found:
		return fmt.Sprintf("ok v%d", out.version)
	case kind == opPutIfVersion || kind == opDeleteIfVersion:
		return fmt.Sprintf("mismatch (current v%d)", out.version)
	case kind == opIncrBy:
		return strconv.FormatInt(out.integer, 10)
	}
	return strconv.FormatBool(out.found)
}

func describeState(state interface{}) string {
	s := state.(kvState)
	if !s.exists {
		return fmt.Sprintf("absent (floor v%d)", s.floor)
	}
	if s.versionKnown {
		return fmt.Sprintf("%q v%d", s.value, s.version)
	}
	return fmt.Sprintf("%q v>=%d", s.value, s.version)
}

// partitionByKey puts each key's operations in a sub-history of their own.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var partitions [][]porcupine.Operation
	for _, op := range history {
		key := op.Input.(kvInput).key
		i, seen := index[key]
		if !seen {
			i = len(partitions)
			index[key] = i
			partitions = append(partitions, nil)
		}
		partitions[i] = append(partitions[i], op)
	}
	return partitions
}

func hashState(state interface{}) uint64 {
	s := state.(kvState)
	h := fnv.New64a()
	fmt.Fprintf(h, "%t|%s|%d|%t|%d", s.exists, s.value, s.version, s.versionKnown, s.floor)
	return h.Sum64()
}

var kvModel = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() interface{} { return absent },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		return step(state.(kvState), input.(kvInput), output.(kvOutput))
	},
	Equal:             func(a, b interface{}) bool { return a.(kvState) == b.(kvState) },
	Hash:              hashState,
	DescribeOperation: describeOperation,
	DescribeState:     describeState,
}
