package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// parseLevel reads --log-level.
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: accepted: debug, info, warn, error", s)
	}
	return l, nil
}

// secretSet holds the values that must never be printed. Values can be
// added while the program runs: the app's own broker password is known only
// once the app host has reported the app's configuration.
type secretSet struct {
	mu      sync.RWMutex
	secrets []string
	replace func(string) string
}

func newSecretSet(secrets ...string) *secretSet {
	s := &secretSet{}
	s.add(secrets...)
	return s
}

// add adds secrets; empty strings are ignored.
func (s *secretSet) add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secrets...)
	s.replace = scrubber(s.secrets)
}

// scrub replaces every secret in text with "****".
func (s *secretSet) scrub(text string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.replace(text)
}

// newLogger returns the process logger. Every message and attribute passes
// through a scrubber that replaces the given secrets, so no log line at any
// level can carry the broker password, whatever printed it (our code,
// go-redis errors, or a worker's own output).
func newLogger(w io.Writer, format, level string, secrets *secretSet) *slog.Logger {
	lvl, _ := parseLevel(level)
	scrub := secrets.scrub
	opts := &slog.HandlerOptions{
		Level: lvl,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Value.Kind() {
			case slog.KindString:
				return slog.String(a.Key, scrub(a.Value.String()))
			case slog.KindAny:
				switch v := a.Value.Any().(type) {
				case error:
					return slog.String(a.Key, scrub(v.Error()))
				case fmt.Stringer:
					return slog.String(a.Key, scrub(v.String()))
				case []string:
					return slog.String(a.Key, scrub(strings.Join(v, ",")))
				}
			}
			return a
		},
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// scrubber returns a function that replaces every occurrence of the
// secrets (and their URL-escaped forms) with "****".
func scrubber(secrets []string) func(string) string {
	var pairs []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		pairs = append(pairs, s, "****")
		if esc := urlEscape(s); esc != s {
			pairs = append(pairs, esc, "****")
		}
	}
	if len(pairs) == 0 {
		return func(s string) string { return s }
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}

// urlEscape percent-encodes what a URL's userinfo would encode.
func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
