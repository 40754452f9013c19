package harness

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Int is an integer reply, or an error for anything else (a RedisError
// reply is returned as the error). It takes Do's results as they come:
// Int(c.Do("LLEN", "q")).
func Int(v any, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case int64:
		return x, nil
	case RedisError:
		return 0, x
	}
	return 0, fmt.Errorf("resp: want an integer, got %T", v)
}

// Strings flattens an array reply to its string elements (others are
// skipped); a nil reply is an empty slice, a RedisError the error.
func Strings(v any, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	if e, ok := v.(RedisError); ok {
		return nil, e
	}
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// Text renders a reply as redis-cli's raw output would: a string as it is,
// an integer in decimal, nil as "", an array's elements one a line. A
// RedisError reply is returned as the error.
func Text(v any, err error) (string, error) {
	if err != nil {
		return "", err
	}
	switch x := v.(type) {
	case RedisError:
		return "", x
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case []any:
		lines := make([]string, len(x))
		for i, e := range x {
			if lines[i], err = Text(e, nil); err != nil {
				return "", err
			}
		}
		return strings.Join(lines, "\n"), nil
	}
	return "", nil
}

// Keys lists every key with SCAN (COUNT 1000 a step).
func (c *Client) Keys() ([]string, error) {
	var keys []string
	cursor := "0"
	for {
		v, err := c.Do("SCAN", cursor, "COUNT", "1000")
		if err != nil {
			return nil, err
		}
		if e, ok := v.(RedisError); ok {
			return nil, e
		}
		arr, _ := v.([]any)
		if len(arr) != 2 {
			return nil, errors.New("resp: SCAN: unexpected reply")
		}
		cursor, _ = arr[0].(string)
		ks, _ := Strings(arr[1], nil)
		keys = append(keys, ks...)
		if cursor == "0" {
			return keys, nil
		}
	}
}
