package broker

import (
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// tailMessage is what Backlogs needs from the oldest message of a list.
type tailMessage struct {
	// id identifies the message across polls: "tag:"+delivery_tag, else
	// "task:"+headers.id, else "raw:"+a hash of the list key and bytes.
	id          string
	publishedAt time.Time // headers.published_at; zero when absent
	eta         time.Time // headers.eta; zero when absent or unparsable
}

// tailEnvelope is the part of kombu's task envelope (docs/celery-on-redis.md, "Task messages") that
// decodeTail reads. The base64 body is left out, so it is scanned but never
// decoded or copied. Raw values keep one odd field from failing the rest.
type tailEnvelope struct {
	Headers struct {
		ID          json.RawMessage `json:"id"`
		ETA         json.RawMessage `json:"eta"`
		PublishedAt json.RawMessage `json:"published_at"`
	} `json:"headers"`
	Properties struct {
		DeliveryTag json.RawMessage `json:"delivery_tag"`
	} `json:"properties"`
}

// decodeTail reads the tail message raw of the list key. It never fails:
// what cannot be decoded is left zero, and a message without any usable
// identifier is identified by its bytes.
func decodeTail(key, raw string) tailMessage {
	var env tailEnvelope
	_ = json.Unmarshal(withoutBody(raw), &env) // a partial decode is still useful
	m := tailMessage{
		publishedAt: unixSeconds(env.Headers.PublishedAt),
		eta:         isoTime(env.Headers.ETA),
	}
	switch {
	case rawString(env.Properties.DeliveryTag) != "":
		m.id = "tag:" + rawString(env.Properties.DeliveryTag)
	case rawString(env.Headers.ID) != "":
		m.id = "task:" + rawString(env.Headers.ID)
	default:
		h := fnv.New64a()
		_, _ = io.WriteString(h, key)
		_, _ = h.Write([]byte{0})
		_, _ = io.WriteString(h, raw)
		m.id = "raw:" + strconv.FormatUint(h.Sum64(), 16)
	}
	return m
}

// withoutBody returns raw with the value of its leading "body" member
// replaced by "", when raw starts that way (kombu writes the body first) and
// the value has no escapes (base64 has none); otherwise raw unchanged. The
// JSON decoder then does not scan the body, which is most of a big message,
// twice; finding its end is one IndexByte.
func withoutBody(raw string) []byte {
	rest, ok := cutJSONPrefix(raw, "{", `"body"`, ":", `"`)
	if !ok {
		return []byte(raw)
	}
	end := strings.IndexByte(rest, '"')
	if end < 0 || strings.IndexByte(rest[:end], '\\') >= 0 {
		return []byte(raw)
	}
	out := make([]byte, 0, len(`{"body":"`)+len(rest)-end)
	out = append(out, `{"body":"`...)
	return append(out, rest[end:]...)
}

// cutJSONPrefix removes tokens from the start of s, each optionally preceded
// by JSON whitespace, and reports whether all were there.
func cutJSONPrefix(s string, tokens ...string) (string, bool) {
	for _, tok := range tokens {
		var ok bool
		if s, ok = strings.CutPrefix(strings.TrimLeft(s, " \t\r\n"), tok); !ok {
			return "", false
		}
	}
	return s, true
}

// rawString returns a JSON string's or number's text, or "" for null,
// objects, arrays and invalid values.
func rawString(v json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return ""
		}
		return s
	}
	if _, err := strconv.ParseFloat(string(v), 64); err == nil {
		return string(v)
	}
	return ""
}

// unixSeconds parses a float unix time in seconds (a JSON number, or a
// numeric string) as the publish_stamp hook writes it, to the microsecond.
// Absent, non-positive, huge or non-finite values give the zero time.
func unixSeconds(v json.RawMessage) time.Time {
	s := rawString(v)
	if s == "" {
		return time.Time{}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f < maxUnixMicros/1e6) { // also rejects NaN and Inf
		return time.Time{}
	}
	// A float64 holds today's unix time to about 0.2µs: round to µs.
	return time.UnixMicro(int64(math.Round(f * 1e6)))
}

// maxUnixMicros keeps f*1e6 exactly representable (2^53).
const maxUnixMicros = 1 << 53

// ISO-8601 forms Python's datetime.isoformat() produces; fractional seconds
// are accepted by time.Parse after the seconds field in either layout.
const (
	etaLayoutZoned = "2006-01-02T15:04:05Z07:00"
	etaLayoutNaive = "2006-01-02T15:04:05" // no offset: taken as UTC (Celery's enable_utc default)
)

// isoTime parses headers.eta. null, absent or unparsable gives zero.
func isoTime(v json.RawMessage) time.Time {
	s := rawString(v)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{etaLayoutZoned, etaLayoutNaive} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
