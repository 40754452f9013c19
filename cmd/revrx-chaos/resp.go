package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errNotSent wraps a failure to connect: the command never reached Redis,
// so it is safe to send again.
var errNotSent = errors.New("not sent")

// redisError is an error reply from Redis (-ERR ...): a value, not a
// transport failure.
type redisError string

func (e redisError) Error() string { return string(e) }

// respClient is a tiny RESP2 client over one TCP connection, dialled lazily
// and dropped on any transport error (the next call dials again).
type respClient struct {
	addr    string
	timeout time.Duration
	mu      sync.Mutex
	conn    net.Conn
	rd      *bufio.Reader
}

func newRESP(addr string) *respClient { return &respClient{addr: addr, timeout: 5 * time.Second} }

// reset drops the connection (after a Redis restart: a dead connection may
// accept a write and lose it).
func (c *respClient) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
}

func (c *respClient) dropLocked() {
	if c.conn != nil {
		c.conn.Close()
	}
	c.conn, c.rd = nil, nil
}

// do sends one command and returns its reply.
func (c *respClient) do(args ...string) (any, error) {
	r, err := c.pipeline([][]string{args})
	if err != nil {
		return nil, err
	}
	return r[0], nil
}

// pipeline sends every command in one write and reads one reply each. Error
// replies come back as redisError values; a transport error drops the
// connection.
func (c *respClient) pipeline(cmds [][]string) ([]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNotSent, err)
		}
		c.conn, c.rd = conn, bufio.NewReader(conn)
	}
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.dropLocked()
		return nil, err
	}
	out := make([]any, len(cmds))
	for i := range cmds {
		v, err := readReply(c.rd)
		if err != nil {
			c.dropLocked()
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// readReply reads one RESP2 reply: string, redisError, int64, nil or []any.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("resp: empty line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return redisError(line[1:]), nil
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("resp: unexpected reply %q", line)
}

// asInt is an integer reply, or an error for anything else.
func asInt(v any, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case int64:
		return x, nil
	case redisError:
		return 0, x
	}
	return 0, fmt.Errorf("resp: want an integer, got %T", v)
}

// asStrings flattens an array reply of bulk strings.
func asStrings(v any, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	if e, ok := v.(redisError); ok {
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
