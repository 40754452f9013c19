package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// aofCommand is one command of Redis's append-only file, in order.
type aofCommand []string

// readAOF reads every incremental file of the server's multi-part AOF
// (Redis 7: appendonlydir/<name>.<seq>.incr.aof, in sequence order). The
// base file is the empty data set the server started with (the runs are too
// short for an automatic rewrite; a rewrite makes this an error).
func readAOF(dir string) ([]aofCommand, error) {
	files, err := filepath.Glob(filepath.Join(dir, "appendonlydir", "*.incr.aof"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no incremental AOF file")
	}
	seq := func(f string) int {
		parts := strings.Split(filepath.Base(f), ".")
		n, _ := strconv.Atoi(parts[len(parts)-3])
		return n
	}
	sort.Slice(files, func(i, j int) bool { return seq(files[i]) < seq(files[j]) })
	if seq(files[0]) != 1 {
		return nil, fmt.Errorf("AOF was rewritten (first incremental file %s): history incomplete", filepath.Base(files[0]))
	}
	var out []aofCommand
	for _, f := range files {
		cmds, err := parseAOFFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, cmds...)
	}
	return out, nil
}

// parseAOFFile parses one file of RESP arrays; a torn last command (a crash
// mid-write) ends it.
func parseAOFFile(path string) ([]aofCommand, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd := bufio.NewReaderSize(f, 1<<16)
	var out []aofCommand
	for {
		v, err := harness.ReadReply(rd)
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		arr, ok := v.([]any)
		if !ok {
			return out, fmt.Errorf("%s: not a command", filepath.Base(path))
		}
		c := make(aofCommand, len(arr))
		for i, x := range arr {
			c[i], _ = x.(string)
		}
		out = append(out, c)
	}
}

// popProof is what the AOF shows of one lost task's message.
type popProof struct {
	pushed, popped bool // LPUSHed onto the queue; removed from it by a pop
	popAt          int  // index of that pop in the AOF
	reachedUnacked bool // HSET unacked of its delivery tag after the pop
	heldSADD       bool // HSET revrx.held.* of its tag after the pop
	otherKey       string
	// when the pop happened, bracketed by the nearest unacked_index scores
	// before and after it in the AOF (zero: none)
	after, before time.Time
}

// queueReplay follows the queue list (and its priority sub-lists, as one)
// through the AOF: LPUSH at the head, RPUSH, RPOP/LPOP (a BRPOP is written
// as RPOP), LREM, DEL. onPush and onPop see each message added or popped,
// with the AOF index; onOther sees every other command.
type queueReplay struct {
	onPush, onPop func(i int, raw string)
	onOther       func(i int, op string, c aofCommand)
}

func (q queueReplay) run(cmds []aofCommand) {
	var list []string // head first
	isQueue := func(k string) bool { return k == chaosQueue || strings.HasPrefix(k, chaosQueue+"\x06\x16") }
	for i, c := range cmds {
		if len(c) < 2 {
			continue
		}
		op := strings.ToUpper(c[0])
		if !isQueue(c[1]) {
			if q.onOther != nil {
				q.onOther(i, op, c)
			}
			continue
		}
		switch op {
		case "LPUSH", "RPUSH":
			for _, v := range c[2:] {
				if op == "LPUSH" {
					list = append([]string{v}, list...)
				} else {
					list = append(list, v)
				}
				if q.onPush != nil {
					q.onPush(i, v)
				}
			}
		case "RPOP", "LPOP":
			n := 1
			if len(c) > 2 {
				n, _ = strconv.Atoi(c[2])
			}
			for ; n > 0 && len(list) > 0; n-- {
				var v string
				if op == "RPOP" {
					v, list = list[len(list)-1], list[:len(list)-1]
				} else {
					v, list = list[0], list[1:]
				}
				if q.onPop != nil {
					q.onPop(i, v)
				}
			}
		case "LREM":
			// count > 0 from the head, < 0 from the tail, 0 all.
			if len(c) != 4 {
				continue
			}
			n, _ := strconv.Atoi(c[2])
			limit := max(n, -n)
			kept, removed := make([]string, 0, len(list)), 0
			for j := range list {
				k := j
				if n < 0 {
					k = len(list) - 1 - j
				}
				if list[k] == c[3] && (limit == 0 || removed < limit) {
					removed++
					continue
				}
				kept = append(kept, list[k])
			}
			if n < 0 {
				slices.Reverse(kept)
			}
			list = kept
		case "DEL":
			list = nil
		}
	}
}

// proveLost finds which pop removed each lost task's message from the
// queue, and whether that message reached unacked (or a held set)
// afterwards.
func proveLost(cmds []aofCommand, ids map[string]bool) map[string]*popProof {
	out := map[string]*popProof{}
	for id := range ids {
		out[id] = &popProof{popAt: -1}
	}
	tagOf := map[string]string{} // delivery tag -> lost id
	queueReplay{
		onPush: func(_ int, raw string) {
			if id, _ := messageIdent(raw); ids[id] {
				out[id].pushed = true
				tagOf[deliveryTag(raw)] = id
			}
		},
		onPop: func(i int, raw string) {
			id, _ := messageIdent(raw)
			if p := out[id]; p != nil {
				p.popped, p.popAt = true, i
				p.reachedUnacked, p.heldSADD = false, false
			}
		},
		onOther: func(_ int, op string, c aofCommand) {
			if len(c) < 3 {
				return
			}
			p := out[tagOf[c[2]]]
			if p == nil || !p.popped {
				return
			}
			switch {
			case op == "HSET" && c[1] == "unacked":
				p.reachedUnacked = true
			case op == "HSET" && strings.HasPrefix(c[1], "revrx.held."):
				p.heldSADD = true
			}
		},
	}.run(cmds)
	for _, p := range out {
		if p.popAt >= 0 {
			p.after, p.before = popBracket(cmds, p.popAt)
		}
	}
	return out
}

// stolenRestore is a put-back (or quarantine) by the supervisor of a gone
// worker's delivery tag whose unacked entry was by then another worker's:
// the gone worker's kombu had put the message back itself, a live worker
// had taken it again (same delivery tag), and the supervisor moved that
// live worker's entry out of unacked, so that the message is both in the
// live worker's hands and in the queue again.
type stolenRestore struct {
	at         int // AOF index of the HDEL
	tag, id    string
	gone, live string // the held sets: the gone worker's, and the taker's
	to         string // where the supervisor put the message
}

// stolenRestores finds them in the AOF: an HDEL unacked of a tag followed
// within the same transaction by the SREM of a held set that is not the one
// the last SADD of that tag (made just before its last HSET unacked) went to.
func stolenRestores(cmds []aofCommand) []stolenRestore {
	holder := map[string]string{} // tag -> held set of its latest taker
	var out []stolenRestore
	for i, c := range cmds {
		if len(c) < 3 {
			continue
		}
		op := strings.ToUpper(c[0])
		switch {
		case op == "HSET" && strings.HasPrefix(c[1], "revrx.held."):
			holder[c[2]] = c[1]
		case op == "HDEL" && c[1] == "unacked":
			tag := c[2]
			for j := i + 1; j < len(cmds) && j <= i+3; j++ {
				d := cmds[j]
				if len(d) < 3 || strings.ToUpper(d[0]) != "HDEL" || d[2] != tag || !strings.HasPrefix(d[1], "revrx.held.") {
					continue
				}
				if h := holder[tag]; h != "" && h != d[1] {
					st := stolenRestore{at: i, tag: tag, gone: strings.TrimPrefix(d[1], "revrx.held."), live: strings.TrimPrefix(h, "revrx.held.")}
					if j+1 < len(cmds) && len(cmds[j+1]) >= 3 {
						st.to = cmds[j+1][1]
						st.id, _ = messageIdent(cmds[j+1][2])
					}
					out = append(out, st)
				}
				break
			}
		}
	}
	return out
}

// popBracket is the nearest unacked_index score before and after AOF index i:
// the pop happened between them.
func popBracket(cmds []aofCommand, i int) (after, before time.Time) {
	score := func(c aofCommand) (time.Time, bool) {
		if len(c) == 4 && strings.EqualFold(c[0], "ZADD") && c[1] == "unacked_index" {
			if f, err := strconv.ParseFloat(c[2], 64); err == nil {
				return time.Unix(0, int64(f*1e9)), true
			}
		}
		return time.Time{}, false
	}
	for j := i - 1; j >= 0; j-- {
		if t, ok := score(cmds[j]); ok {
			after = t
			break
		}
	}
	for j := i + 1; j < len(cmds); j++ {
		if t, ok := score(cmds[j]); ok {
			before = t
			break
		}
	}
	return after, before
}

// deliveryTag is properties.delivery_tag of a queue message.
func deliveryTag(raw string) string {
	_, rest, ok := strings.Cut(raw, `"delivery_tag": "`)
	if !ok {
		_, rest, ok = strings.Cut(raw, `"delivery_tag":"`)
	}
	if !ok {
		return ""
	}
	tag, _, _ := strings.Cut(rest, `"`)
	return tag
}
