package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ErrInvalidURL is wrapped by every error ParseURL returns. Its messages
// carry only the redacted form of the URL, never a password.
var ErrInvalidURL = errors.New("invalid broker url")

// acceptedForms is appended to URL errors so the operator sees what works.
const acceptedForms = "accepted forms: redis://[user:pass@]host[:port][/db], " +
	"rediss://...[?ssl_cert_reqs=required|optional|none], unix:///path.sock[?db=N], " +
	"redis+socket:///path.sock[?virtual_host=N], " +
	"sentinel://[:pass@]host:26379[;sentinel://host2:26379]?master_name=NAME, " +
	"amqp://[user:pass@]host[:port][/vhost] (RabbitMQ; also amqps://, pyamqp://)"

// Default ports, as kombu uses them.
const (
	DefaultRedisPort    = 6379
	DefaultSentinelPort = 26379
)

// Endpoint is a parsed Celery Redis broker URL.
type Endpoint struct {
	Network            string   // "tcp" or "unix"
	Addrs              []string // host:port (one for redis/rediss, the socket path for unix; several for sentinel)
	Username, Password string
	DB                 int
	TLS                *tls.Config // non-nil for rediss://
	Sentinel           bool
	MasterName         string // sentinel master (from the URL query `master_name` or the option passed in)
}

// ParseURL translates a broker URL in any form Celery 5.2 / kombu 5.2 accepts
// for Redis into an Endpoint:
//
//   - redis://[user:pass@]host[:port][/db] (port 6379, db 0 by default; the db
//     may also come from ?virtual_host=N or ?db=N), password-only userinfo
//     (redis://:secret@host) and ?password=secret;
//   - rediss://... with ssl_cert_reqs (required|optional|none or
//     CERT_REQUIRED|CERT_OPTIONAL|CERT_NONE), ssl_ca_certs, ssl_certfile and
//     ssl_keyfile. "optional" verifies the server like "required" (as Python's
//     ssl does in client mode); "none" skips verification. The files are read
//     here;
//   - unix:///path/to.sock and redis+socket:///path/to.sock, db from ?db= or
//     ?virtual_host=;
//   - sentinel://[:pass@]host[:26379][;sentinel://host2...] where the password
//     is the master's (as kombu does) and the master name comes from
//     sentinelMaster or, when that is empty, from ?master_name= on any of the
//     URLs. A sentinel list without a master name is an error.
//
// Unknown query options (kombu transport options such as visibility_timeout)
// are ignored. Several ';'-separated URLs are accepted only for sentinel.
// Every error wraps ErrInvalidURL and names the accepted forms; none contains
// the password.
func ParseURL(raw string, sentinelMaster string) (Endpoint, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Endpoint{}, fmt.Errorf("%w: empty; %s", ErrInvalidURL, acceptedForms)
	}
	parts := splitURLs(raw)
	var pp []parsedURL
	for _, p := range parts {
		u, err := splitURL(p)
		if errors.Is(err, errNoScheme) {
			// Not a URL at all: it may be a bare secret, so do not echo it.
			return Endpoint{}, fmt.Errorf("%w: not a URL (no scheme://); %s", ErrInvalidURL, acceptedForms)
		}
		if err != nil {
			return Endpoint{}, fmt.Errorf("%w %q: %w; %s", ErrInvalidURL, Redact(raw), err, acceptedForms)
		}
		pp = append(pp, u)
	}
	ep, err := endpointFrom(pp, sentinelMaster)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w %q: %w; %s", ErrInvalidURL, Redact(raw), err, acceptedForms)
	}
	return ep, nil
}

var errNoScheme = errors.New("no scheme")

// parsedURL is one URL split the way Python's urllib does it, with the
// userinfo taken apart by hand so that no parse error can echo a password.
type parsedURL struct {
	scheme   string
	username string
	password string
	hasUser  bool
	host     string // without port; may be empty
	port     string // may be empty
	path     string // unescaped
	query    url.Values
}

// urlStart matches the start of a URL inside a ';'-separated list.
var urlStart = regexp.MustCompile(`;\s*[A-Za-z][A-Za-z0-9+.\-]*://`)

// splitURLs splits Celery's ';'-separated URL list. It splits only where a
// new scheme follows, so a ';' inside a password does not split.
func splitURLs(raw string) []string {
	var out []string
	start := 0
	for _, loc := range urlStart.FindAllStringIndex(raw, -1) {
		out = append(out, raw[start:loc[0]])
		start = loc[0] + 1
	}
	out = append(out, raw[start:])
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// splitURL parses one URL. Its errors never contain user-supplied text.
func splitURL(s string) (parsedURL, error) {
	var p parsedURL
	i := strings.Index(s, "://")
	if i <= 0 {
		return p, errNoScheme
	}
	p.scheme = strings.ToLower(s[:i])
	rest := s[i+3:]
	// The authority ends at the first '/', '?' or '#'; userinfo is up to its
	// last '@'. A password with an unescaped '/', '?' or '#' cannot be told
	// apart from the path, exactly as in urllib.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		p.hasUser = true
		user, pass, _ := strings.Cut(userinfo, ":")
		var err error
		if p.username, err = url.PathUnescape(user); err != nil {
			return p, errors.New("bad escape in username")
		}
		if p.password, err = url.PathUnescape(pass); err != nil {
			return p, errors.New("bad escape in password")
		}
	}
	host, port, err := splitHostPort(authority)
	if err != nil {
		return p, err
	}
	p.host, p.port = host, port
	if hash := strings.IndexByte(tail, '#'); hash >= 0 {
		tail = tail[:hash]
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	if p.path, err = url.PathUnescape(path); err != nil {
		return p, errors.New("bad escape in path")
	}
	if p.query, err = url.ParseQuery(rawQuery); err != nil {
		return p, errors.New("bad query string")
	}
	return p, nil
}

func splitHostPort(authority string) (host, port string, err error) {
	if authority == "" {
		return "", "", nil
	}
	if strings.HasPrefix(authority, "[") { // IPv6 literal
		closeIdx := strings.IndexByte(authority, ']')
		if closeIdx < 0 {
			return "", "", errors.New("bad IPv6 host")
		}
		host = authority[1:closeIdx]
		after := authority[closeIdx+1:]
		if after == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(after, ":") {
			return "", "", errors.New("bad host")
		}
		return host, after[1:], nil
	}
	host, port, found := strings.Cut(authority, ":")
	if found && strings.Contains(port, ":") {
		return "", "", errors.New("bad host (IPv6 addresses need [brackets])")
	}
	return host, port, nil
}

func endpointFrom(pp []parsedURL, sentinelMaster string) (Endpoint, error) {
	first := pp[0]
	switch first.scheme {
	case "redis", "rediss", "unix", "redis+socket", "socket", "sentinel":
	default:
		return Endpoint{}, errors.New("unsupported scheme (Redis and RabbitMQ brokers are supported)")
	}
	for _, p := range pp[1:] {
		if first.scheme != "sentinel" {
			return Endpoint{}, errors.New("several ';'-separated URLs are supported only for sentinel://")
		}
		if p.scheme != "sentinel" {
			return Endpoint{}, errors.New("a sentinel list must use sentinel:// for every URL")
		}
	}
	ep := Endpoint{Network: "tcp", Username: first.username, Password: first.password}
	if pw := first.query.Get("password"); pw != "" {
		ep.Password = pw
	}
	db, err := parseDB(first)
	if err != nil {
		return Endpoint{}, err
	}
	ep.DB = db
	switch first.scheme {
	case "unix", "redis+socket", "socket":
		if first.path == "" || first.path == "/" {
			return Endpoint{}, errors.New("socket URL without a path")
		}
		ep.Network = "unix"
		ep.Addrs = []string{first.path}
	case "redis", "rediss":
		addr, err := hostPort(first, DefaultRedisPort)
		if err != nil {
			return Endpoint{}, err
		}
		ep.Addrs = []string{addr}
		if first.scheme == "rediss" {
			if ep.TLS, err = tlsConfig(first); err != nil {
				return Endpoint{}, err
			}
		}
	case "sentinel":
		ep.Sentinel = true
		ep.MasterName = sentinelMaster
		for _, p := range pp {
			addr, err := hostPort(p, DefaultSentinelPort)
			if err != nil {
				return Endpoint{}, err
			}
			ep.Addrs = append(ep.Addrs, addr)
			if ep.MasterName == "" {
				ep.MasterName = p.query.Get("master_name")
			}
		}
		if ep.MasterName == "" {
			return Endpoint{}, errors.New("sentinel needs a master name (?master_name=NAME or the sentinel master option)")
		}
	}
	return ep, nil
}

// parseDB takes the db from ?virtual_host=, ?db= or, for TCP URLs, the path.
func parseDB(p parsedURL) (int, error) {
	v := p.query.Get("virtual_host")
	if v == "" {
		v = p.query.Get("db")
	}
	isSocket := p.scheme == "unix" || p.scheme == "redis+socket" || p.scheme == "socket"
	if v == "" && !isSocket {
		v = strings.Trim(p.path, "/")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("bad db number (want a non-negative integer)")
	}
	return n, nil
}

func hostPort(p parsedURL, defPort int) (string, error) {
	host := p.host
	if host == "" {
		host = "localhost"
	}
	port := defPort
	if p.port != "" {
		n, err := strconv.Atoi(p.port)
		if err != nil || n < 1 || n > 65535 {
			return "", errors.New("bad port (want 1-65535)")
		}
		port = n
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// tlsConfig maps kombu's ssl_* query options to a tls.Config.
func tlsConfig(p parsedURL) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.host}
	switch strings.ToLower(p.query.Get("ssl_cert_reqs")) {
	case "", "required", "cert_required", "optional", "cert_optional":
	case "none", "cert_none":
		cfg.InsecureSkipVerify = true
	default:
		return nil, errors.New("bad ssl_cert_reqs (want required, optional or none)")
	}
	if ca := p.query.Get("ssl_ca_certs"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("ssl_ca_certs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("ssl_ca_certs: no PEM certificates found")
		}
		cfg.RootCAs = pool
	}
	certFile, keyFile := p.query.Get("ssl_certfile"), p.query.Get("ssl_keyfile")
	if certFile != "" || keyFile != "" {
		if keyFile == "" {
			keyFile = certFile // Python accepts the key inside the cert file
		}
		if certFile == "" {
			return nil, errors.New("ssl_keyfile without ssl_certfile")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("ssl_certfile/ssl_keyfile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
