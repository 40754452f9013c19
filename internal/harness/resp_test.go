package harness

import (
	"errors"
	"slices"
	"strconv"
	"testing"
)

// TestCommand: Command speaks RESP itself: statuses, integers, bulk strings
// (binary-safe), nil, and arrays.
func TestCommand(t *testing.T) {
	s := StartTestRedis(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "k", "a\r\nb\xff"}, "OK"},
		{[]string{"GET", "k"}, "a\r\nb\xff"},
		{[]string{"LPUSH", "l", "x", "y"}, "2"},
		{[]string{"GET", "missing"}, ""},
		{[]string{"LRANGE", "l", "0", "-1"}, "y\nx"},
	} {
		if got := s.Command(t, tc.args...); got != tc.want {
			t.Errorf("Command(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestClient: a pipeline gets one reply each, an error reply is a value,
// the typed readers convert, and a closed port is ErrNotSent.
func TestClient(t *testing.T) {
	s := StartTestRedis(t)
	c := s.Client()
	defer c.Reset()
	r, err := c.Pipeline([][]string{{"RPUSH", "q", "a", "b"}, {"INCR", "q"}, {"LRANGE", "q", "0", "-1"}, {"GET", "none"}})
	if err != nil {
		t.Fatalf("Pipeline: %v", err)
	}
	if n, err := Int(r[0], nil); n != 2 || err != nil {
		t.Errorf("RPUSH = %d, %v; want 2", n, err)
	}
	if _, ok := r[1].(RedisError); !ok {
		t.Errorf("INCR on a list = %#v, want a RedisError", r[1])
	}
	if _, err := Int(r[1], nil); err == nil {
		t.Error("Int(error reply): no error")
	}
	if got, _ := Strings(r[2], nil); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("LRANGE = %q, want [a b]", got)
	}
	if r[3] != nil {
		t.Errorf("GET none = %#v, want nil", r[3])
	}
	for i := range 1500 { // more than one SCAN step
		if _, err := c.Do("SET", "k"+strconv.Itoa(i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := c.Keys()
	if err != nil || len(keys) != 1501 || !slices.Contains(keys, "q") {
		t.Errorf("Keys() = %d keys, %v; want 1501 with q", len(keys), err)
	}
	s.Kill()
	if _, err := c.Do("PING"); err == nil {
		t.Error("PING after Kill: no error")
	}
	if _, err := c.Do("PING"); !errors.Is(err, ErrNotSent) {
		t.Errorf("PING to a closed port = %v, want ErrNotSent", err)
	}
}
