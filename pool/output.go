//go:build linux

package pool

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
)

const (
	// maxLineBytes caps one line of child output; the rest of the line is
	// dropped and the kept part ends with truncatedMark.
	maxLineBytes = 64 << 10
	// ringLines is how many of a child's last lines are kept for reports.
	ringLines = 20
	// logQueueLen bounds the lines waiting for the logger; beyond it lines
	// are dropped (and counted) rather than blocking the reader and the child.
	logQueueLen = 4096
)

const truncatedMark = " …[truncated]"

// ring keeps the last ringLines lines. It is safe for concurrent use.
type ring struct {
	mu    sync.Mutex
	lines []string
	next  int
}

func (r *ring) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) < ringLines {
		r.lines = append(r.lines, line)
		return
	}
	r.lines[r.next] = line
	r.next = (r.next + 1) % ringLines
}

// snapshot returns the kept lines, oldest first.
func (r *ring) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.lines))
	out = append(out, r.lines[r.next:]...)
	return append(out, r.lines[:r.next]...)
}

// readLines calls emit for every line read from rd until EOF or a read
// error: lines are split on '\n' (a trailing '\r' is dropped), capped at
// maxLineBytes, made valid UTF-8, and a final line without '\n' is emitted
// too. emit must not block.
func readLines(rd io.Reader, emit func(string)) {
	br := bufio.NewReaderSize(rd, maxLineBytes)
	for {
		chunk, err := br.ReadSlice('\n')
		truncated := false
		if errors.Is(err, bufio.ErrBufferFull) {
			chunk = append([]byte(nil), chunk...) // ReadSlice's buffer is reused below
			truncated = true
			err = skipRestOfLine(br)
		}
		if len(chunk) > 0 {
			emit(cleanLine(chunk, truncated))
		}
		if err != nil {
			return
		}
	}
}

// skipRestOfLine discards input up to and including the next '\n'.
func skipRestOfLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

func cleanLine(b []byte, truncated bool) string {
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	s = strings.ToValidUTF8(s, "\uFFFD")
	if truncated {
		s += truncatedMark
	}
	return s
}

// outputLine is one line of child output waiting to be logged.
type outputLine struct {
	log    *slog.Logger
	stream string
	text   string
}

// lineLogger logs child output on its own goroutine so that a slow or stuck
// slog handler never stops the readers (and so never blocks a child).
type lineLogger struct {
	queue   chan outputLine
	mu      sync.Mutex
	dropped int
	log     *slog.Logger
}

func newLineLogger(log *slog.Logger) *lineLogger {
	return &lineLogger{queue: make(chan outputLine, logQueueLen), log: log}
}

// offer queues a line without blocking; when the queue is full the line is
// counted as dropped.
func (l *lineLogger) offer(line outputLine) {
	select {
	case l.queue <- line:
	default:
		l.mu.Lock()
		l.dropped++
		l.mu.Unlock()
	}
}

// run logs queued lines until stop is closed, then logs what is left.
func (l *lineLogger) run(stop <-chan struct{}) {
	for {
		select {
		case line := <-l.queue:
			l.write(line)
		case <-stop:
			for {
				select {
				case line := <-l.queue:
					l.write(line)
				default:
					l.reportDropped()
					return
				}
			}
		}
	}
}

func (l *lineLogger) write(line outputLine) {
	l.reportDropped()
	line.log.LogAttrs(context.Background(), slog.LevelInfo, line.text, slog.String(keyStream, line.stream))
}

func (l *lineLogger) reportDropped() {
	l.mu.Lock()
	n := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if n > 0 {
		l.log.Warn("child output dropped: logger too slow", keyLines, n)
	}
}
