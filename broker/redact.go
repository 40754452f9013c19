package broker

import (
	"regexp"
	"strings"
)

// redactedMark replaces every hidden secret.
const redactedMark = "***"

// passwordParam matches a query parameter whose name contains "password"
// (password=, sentinel_password=, ...), up to the next '&', ';' or '#'.
var passwordParam = regexp.MustCompile(`(?i)([?&][^=&?;#]*password=)[^&;#]*`)

// Redact returns a form of any broker string that is safe for logs and
// status pages: in every ';'-separated URL, the password part of the
// userinfo becomes "***" (a userinfo without ':' is hidden entirely, since
// some clients treat it as a password), and so does the value of every
// query parameter whose name contains "password". It works on strings that
// do not parse, by plain text matching, and never returns the input's
// password.
func Redact(raw string) string {
	parts := splitURLs(raw)
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ";")
}

func redactOne(s string) string {
	s = passwordParam.ReplaceAllString(s, "${1}"+redactedMark)
	prefixEnd := 0
	if i := strings.Index(s, "://"); i >= 0 {
		prefixEnd = i + 3
	}
	rest := s[prefixEnd:]
	// Hide up to the last '@': a password may contain unescaped '/', '?'
	// or '@'. This over-redacts an '@' in a later query value, which is the
	// safe side.
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	userinfo := rest[:at]
	user, _, hasPass := strings.Cut(userinfo, ":")
	var hidden string
	switch {
	case hasPass:
		hidden = user + ":" + redactedMark
	case userinfo == "":
		hidden = ""
	default:
		hidden = redactedMark
	}
	return s[:prefixEnd] + hidden + rest[at:]
}
