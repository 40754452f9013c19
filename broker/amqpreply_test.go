package broker

import (
	"encoding/json"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestAMQPRepliesRoute: a reply reaches the call waiting for its ticket,
// once; foreign tickets, replies without a ticket or with a body that is not
// JSON are dropped; a forgotten ticket gets nothing; done closes when the
// deliveries end.
func TestAMQPRepliesRoute(t *testing.T) {
	r := newAMQPReplies()
	mine, forget := r.expect("t1")
	defer forget()
	gone, forgetGone := r.expect("t2")
	forgetGone()
	deliveries := make(chan amqp.Delivery, 5)
	for _, d := range []amqp.Delivery{
		{Headers: amqp.Table{"ticket": "other"}, Body: []byte(`{"w@h": {"ok": "other"}}`)},
		{Body: []byte(`{"w@h": {"ok": "no ticket"}}`)},
		{Headers: amqp.Table{"ticket": "t1"}, Body: []byte(`not json`)},
		{Headers: amqp.Table{"ticket": "t2"}, Body: []byte(`{"w@h": {"ok": "forgotten"}}`)},
		{Headers: amqp.Table{"ticket": "t1"}, Body: []byte(`{"w@h": {"ok": "mine"}}`)},
	} {
		deliveries <- d
	}
	close(deliveries)
	r.route(deliveries)
	<-r.done
	select {
	case got := <-mine:
		if want := `{"ok": "mine"}`; string(got["w@h"]) != want {
			t.Errorf("reply to t1 = %s, want %s", got["w@h"], want)
		}
	default:
		t.Fatal("no reply for t1")
	}
	select {
	case got := <-gone:
		t.Errorf("forgotten ticket t2 got %v", got)
	default:
	}
}

// TestAnswerError: {"error": ...} from the worker is an error naming it;
// any other answer, or none, is not.
func TestAnswerError(t *testing.T) {
	for _, tc := range []struct {
		answer  string
		wantErr bool
	}{
		{`{"w@h": {"ok": "add consumer q1"}}`, false},
		{`{"w@h": {"error": "ValueError('x')"}}`, true},
		{`{"other@h": {"error": "not ours"}}`, false},
	} {
		var answer map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.answer), &answer); err != nil {
			t.Fatal(err)
		}
		if err := answerError(answer, "w@h"); (err != nil) != tc.wantErr {
			t.Errorf("answerError(%s) = %v, want error %v", tc.answer, err, tc.wantErr)
		}
	}
}
