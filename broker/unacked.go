package broker

import (
	"encoding/json"
	"fmt"
)

// unackedEntry is one value of the unacked hash.
type unackedEntry struct {
	payload         map[string]json.RawMessage
	exchange, route string
	id, task, tag   string
	take            string // TakeField: which take of the message this entry is
	priority        int
}

// parseUnacked decodes [message, exchange, routing_key].
func parseUnacked(raw string) (unackedEntry, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &parts); err != nil || len(parts) != 3 {
		return unackedEntry{}, fmt.Errorf("not [message, exchange, routing_key]")
	}
	e, err := parseMessage(string(parts[0]))
	if err != nil {
		return e, err
	}
	if json.Unmarshal(parts[1], &e.exchange) != nil || json.Unmarshal(parts[2], &e.route) != nil {
		return e, fmt.Errorf("exchange or routing key is not a string")
	}
	return e, nil
}

// parseMessage decodes the fields of a kombu message that a restore needs.
func parseMessage(raw string) (unackedEntry, error) {
	var e unackedEntry
	if err := json.Unmarshal([]byte(raw), &e.payload); err != nil {
		return e, fmt.Errorf("message: %w", err)
	}
	var h struct {
		ID   string `json:"id"`
		Task string `json:"task"`
	}
	_ = json.Unmarshal(e.payload["headers"], &h)
	e.id, e.task = h.ID, h.Task
	var props struct {
		Priority *int   `json:"priority"`
		Tag      string `json:"delivery_tag"`
		Take     string `json:"x_revrx_take"`
	}
	_ = json.Unmarshal(e.payload["properties"], &props)
	if props.Priority != nil {
		e.priority = *props.Priority
	}
	e.tag, e.take = props.Tag, props.Take
	return e, nil
}

// redelivered is the message with kombu's redelivered flags set
// (headers.redelivered and properties.delivery_info.redelivered) and no
// take id (it is nobody's take in a queue); every other field is kept.
func (e unackedEntry) redelivered() (string, error) {
	out := make(map[string]json.RawMessage, len(e.payload))
	for k, v := range e.payload {
		out[k] = v
	}
	var err error
	if out["headers"], err = setField(e.payload["headers"], "redelivered", json.RawMessage("true")); err != nil {
		return "", fmt.Errorf("headers: %w", err)
	}
	props := map[string]json.RawMessage{}
	if len(e.payload["properties"]) > 0 {
		if err := json.Unmarshal(e.payload["properties"], &props); err != nil {
			return "", fmt.Errorf("properties: %w", err)
		}
	}
	delete(props, TakeField)
	if props["delivery_info"], err = setField(props["delivery_info"], "redelivered", json.RawMessage("true")); err != nil {
		return "", fmt.Errorf("delivery_info: %w", err)
	}
	if out["properties"], err = json.Marshal(props); err != nil {
		return "", err
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// setField sets key in the JSON object obj (null or missing: a new one).
func setField(obj json.RawMessage, key string, v json.RawMessage) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(obj) > 0 && string(obj) != "null" {
		if err := json.Unmarshal(obj, &m); err != nil {
			return nil, err
		}
	}
	m[key] = v
	return json.Marshal(m)
}
