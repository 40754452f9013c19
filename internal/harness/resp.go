package harness

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

// DefaultClientTimeout bounds a Client's dial and each round trip.
const DefaultClientTimeout = 5 * time.Second

// ErrNotSent wraps a failure to connect: the command never reached Redis,
// so it is safe to send again.
var ErrNotSent = errors.New("not sent")

// RedisError is an error reply from Redis (-ERR ...): a value, not a
// transport failure.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// Client is a small RESP2 client over one TCP connection. It dials lazily,
// authenticates with Password when one is set, and drops the connection on
// any transport error (the next call dials again). It is safe for
// concurrent use; calls are serialised. It starts no process (unlike
// redis-cli): a test whose process reaps unmanaged children can use it.
type Client struct {
	Addr     string        // host:port
	Password string        // sent with AUTH after each dial when not empty
	Timeout  time.Duration // dial and round-trip bound; DefaultClientTimeout when zero

	mu   sync.Mutex
	conn net.Conn
	rd   *bufio.Reader
}

// NewClient returns a Client for addr without a password.
func NewClient(addr string) *Client { return &Client{Addr: addr} }

// Reset drops the connection (after a Redis restart a dead connection may
// accept a write and lose it); the next call dials again.
func (c *Client) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
}

func (c *Client) dropLocked() {
	if c.conn != nil {
		c.conn.Close()
	}
	c.conn, c.rd = nil, nil
}

// Do sends one command and returns its reply (see Pipeline).
func (c *Client) Do(args ...string) (any, error) {
	r, err := c.Pipeline([][]string{args})
	if err != nil {
		return nil, err
	}
	return r[0], nil
}

// Pipeline sends every command in one write and reads one reply each: a
// string (status or bulk), int64, nil (a nil bulk string or array), []any,
// or a RedisError value for an error reply. A transport error drops the
// connection and is returned; a failure to connect wraps ErrNotSent.
func (c *Client) Pipeline(cmds [][]string) ([]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(); err != nil {
		return nil, err
	}
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout()))
	if _, err := io.WriteString(c.conn, encode(cmds)); err != nil {
		c.dropLocked()
		return nil, err
	}
	out := make([]any, len(cmds))
	for i := range cmds {
		v, err := ReadReply(c.rd)
		if err != nil {
			c.dropLocked()
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultClientTimeout
}

// connectLocked dials (and authenticates) when there is no connection.
func (c *Client) connectLocked() error {
	if c.conn != nil {
		return nil
	}
	conn, err := net.DialTimeout("tcp", c.Addr, c.timeout())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	c.conn, c.rd = conn, bufio.NewReader(conn)
	if c.Password == "" {
		return nil
	}
	_ = conn.SetDeadline(time.Now().Add(c.timeout()))
	_, err = io.WriteString(conn, encode([][]string{{"AUTH", c.Password}}))
	var v any
	if err == nil {
		v, err = ReadReply(c.rd)
	}
	if e, ok := v.(RedisError); ok && err == nil {
		err = e
	}
	if err != nil {
		c.dropLocked()
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// encode writes commands as RESP arrays of bulk strings (binary-safe).
func encode(cmds [][]string) string {
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	return b.String()
}

// ReadReply reads one RESP2 value from r: a string (status or bulk), a
// RedisError, an int64, nil (a nil bulk string or array) or []any. It also
// parses a command as an append-only file stores it (an array of bulk
// strings).
func ReadReply(r *bufio.Reader) (any, error) {
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
		return RedisError(line[1:]), nil
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
			if arr[i], err = ReadReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("resp: unexpected reply %q", line)
}
