package broker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUndecodable is wrapped by DecodeMessage errors.
var ErrUndecodable = errors.New("undecodable event message")

// Event is one Celery event as decoded from its message, with the fields
// revrx-supervise uses (the supervisor's model of them is package
// supervisor/events).
type Event struct {
	Type      string  // "task-received", "task-started", "task-succeeded", "task-failed", "task-retried", "task-revoked", "task-rejected", "worker-online", "worker-heartbeat", "worker-offline", ...
	Hostname  string  // worker node name, e.g. "worker3@vm"
	UUID      string  // task id (task events)
	Timestamp float64 // event's own time.time()
	PID       int     // the worker's main process
	Active    int     // worker-heartbeat: number of active (running) tasks
	Freq      float64 // heartbeat frequency, seconds
	Runtime   float64 // task-succeeded, seconds
	ETA       string  // task-received; "" when none (null in the event)
	Name      string  // task name (task-received, task-sent)
	Queue     string  // the queue it was sent to (task-sent)
}

// envelope is the kombu message published on the event channel.
type envelope struct {
	Body        json.RawMessage `json:"body"`
	ContentType string          `json:"content-type"`
	Properties  struct {
		BodyEncoding string `json:"body_encoding"`
	} `json:"properties"`
}

// wireEvent is an event as Celery serializes it. Fields not listed here
// (args, kwargs, result, traceback, ...) are skipped by the decoder.
type wireEvent struct {
	Type      string  `json:"type"`
	Hostname  string  `json:"hostname"`
	UUID      string  `json:"uuid"`
	Timestamp float64 `json:"timestamp"`
	PID       int     `json:"pid"`
	Active    int     `json:"active"`
	Freq      float64 `json:"freq"`
	Runtime   float64 `json:"runtime"`
	ETA       *string `json:"eta"`
	Name      *string `json:"name"`
	Queue     *string `json:"queue"`
}

func (w *wireEvent) event() Event {
	ev := Event{
		Type: w.Type, Hostname: w.Hostname, UUID: w.UUID, Timestamp: w.Timestamp,
		PID: w.PID, Active: w.Active, Freq: w.Freq, Runtime: w.Runtime,
	}
	if w.ETA != nil {
		ev.ETA = *w.ETA
	}
	if w.Name != nil {
		ev.Name = *w.Name
	}
	if w.Queue != nil {
		ev.Queue = *w.Queue
	}
	return ev
}

// DecodeMessage decodes one message published on a celeryev channel: the
// kombu envelope whose body is (by default base64-encoded) JSON that is
// either one event object or an array of them (the task.multi batch). Events
// come back in the order they were sent; entries without a "type" are
// dropped. Non-JSON content types (pickle, msgpack, yaml) are an error. It
// never panics on any input.
func DecodeMessage(payload []byte) ([]Event, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", ErrUndecodable, err)
	}
	switch env.ContentType {
	case "", "application/json":
	default:
		return nil, fmt.Errorf("%w: content type %q (only application/json)", ErrUndecodable, env.ContentType)
	}
	body, err := bodyBytes(env)
	if err != nil {
		return nil, err
	}
	return decodeEvents(body)
}

// decodeEvents decodes a serialized JSON event body: one event object or
// an array of them (the task.multi batch), in order; entries without a
// "type" are dropped. Errors wrap ErrUndecodable.
func decodeEvents(body []byte) ([]Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrUndecodable)
	}
	var wires []wireEvent
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &wires); !lenient(err) {
			return nil, fmt.Errorf("%w: body: %w", ErrUndecodable, err)
		}
	case '{':
		wires = make([]wireEvent, 1)
		if err := json.Unmarshal(body, &wires[0]); !lenient(err) {
			return nil, fmt.Errorf("%w: body: %w", ErrUndecodable, err)
		}
	default:
		return nil, fmt.Errorf("%w: body is neither an object nor an array", ErrUndecodable)
	}
	events := make([]Event, 0, len(wires))
	for i := range wires {
		if wires[i].Type == "" {
			continue
		}
		events = append(events, wires[i].event())
	}
	return events, nil
}

// bodyBytes returns the serialized body: base64-decoded when the envelope
// says so, else the JSON string's contents or the raw JSON value itself.
func bodyBytes(env envelope) ([]byte, error) {
	raw := bytes.TrimSpace(env.Body)
	if len(raw) == 0 || raw[0] != '"' {
		if env.Properties.BodyEncoding == "base64" {
			return nil, fmt.Errorf("%w: base64 body is not a string", ErrUndecodable)
		}
		return raw, nil // body inlined as JSON (not what kombu sends, but harmless)
	}
	var s []byte
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
		s = raw[1 : len(raw)-1] // fast path: base64 text never needs escapes
	} else {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return nil, fmt.Errorf("%w: body string: %w", ErrUndecodable, err)
		}
		s = []byte(str)
	}
	if env.Properties.BodyEncoding != "base64" {
		return s, nil
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	if err != nil {
		return nil, fmt.Errorf("%w: base64 body: %w", ErrUndecodable, err)
	}
	return b[:n], nil
}

// lenient reports whether an Unmarshal result is usable: no error, or only a
// field of an unexpected type (that field is left zero and the rest decoded).
func lenient(err error) bool {
	var typeErr *json.UnmarshalTypeError
	return err == nil || errors.As(err, &typeErr)
}
