package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// acceptedAMQPForms is appended to AMQP URL errors.
const acceptedAMQPForms = "accepted forms: amqp://[user:pass@]host[:port][/vhost] (also pyamqp:// and librabbitmq://; " +
	"'//' at the end is the vhost '/'), amqps://...[?ssl_cert_reqs=required|optional|none&ssl_ca_certs=FILE], " +
	"several ';'-separated for failover"

// Default AMQP ports and credentials, as kombu uses them.
const (
	DefaultAMQPPort    = 5672
	DefaultAMQPSPort   = 5671
	defaultAMQPUser    = "guest"
	defaultAMQPVHost   = "/"
	defaultAMQPPasword = "guest"
)

// amqpSchemes are the schemes kombu 5.2 maps to an AMQP 0-9-1 transport
// (pyamqp and librabbitmq are aliases of amqp; amqps is amqp over TLS).
var amqpSchemes = map[string]bool{"amqp": true, "amqps": true, "pyamqp": true, "librabbitmq": true}

// AMQPEndpoint is one broker of an AMQP URL (one of a failover list).
type AMQPEndpoint struct {
	Addr               string // host:port
	Username, Password string // guest/guest when the URL has none, as kombu
	VHost              string // "/" when the URL has none
	TLS                *tls.Config
}

// IsAMQP reports whether raw (a broker URL, or a ';'-separated list) names
// an AMQP broker, by the scheme of its first URL.
func IsAMQP(raw string) bool {
	i := strings.Index(raw, "://")
	return i > 0 && amqpSchemes[strings.ToLower(strings.TrimSpace(raw[:i]))]
}

// ParseAMQPURL translates an AMQP broker URL in the forms kombu 5.2
// accepts into its endpoints, in failover order: amqp:// (with the aliases
// pyamqp:// and librabbitmq://) and amqps://, [user:pass@]host[:port]
// (localhost, 5672 or 5671 with TLS, guest/guest by default), the vhost as
// the path after the first '/' unescaped ("/" when empty, so both
// "amqp://h/" and "amqp://h//" are the vhost "/"), and for amqps:// the
// ssl_* query options of rediss:// (ssl_cert_reqs, ssl_ca_certs,
// ssl_certfile, ssl_keyfile). Every URL of a ';'-separated list must be
// AMQP; each is a failover alternative. Other query options are ignored.
// Every error wraps ErrInvalidURL and names the accepted forms; none
// contains the password.
func ParseAMQPURL(raw string) ([]AMQPEndpoint, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("%w: empty; %s", ErrInvalidURL, acceptedAMQPForms)
	}
	var eps []AMQPEndpoint
	for _, s := range splitURLs(raw) {
		p, err := splitURL(s)
		if errors.Is(err, errNoScheme) {
			return nil, fmt.Errorf("%w: not a URL (no scheme://); %s", ErrInvalidURL, acceptedAMQPForms)
		}
		if err == nil {
			var ep AMQPEndpoint
			ep, err = amqpEndpoint(p)
			eps = append(eps, ep)
		}
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w; %s", ErrInvalidURL, Redact(raw), err, acceptedAMQPForms)
		}
	}
	return eps, nil
}

// amqpEndpoint is one parsed AMQP URL's endpoint.
func amqpEndpoint(p parsedURL) (AMQPEndpoint, error) {
	if !amqpSchemes[p.scheme] {
		return AMQPEndpoint{}, errors.New("every URL of an AMQP list must be amqp://, amqps://, pyamqp:// or librabbitmq://")
	}
	port := DefaultAMQPPort
	if p.scheme == "amqps" {
		port = DefaultAMQPSPort
	}
	addr, err := hostPort(p, port)
	if err != nil {
		return AMQPEndpoint{}, err
	}
	ep := AMQPEndpoint{Addr: addr, Username: defaultAMQPUser, Password: defaultAMQPPasword, VHost: defaultAMQPVHost}
	if p.hasUser {
		ep.Username, ep.Password = p.username, p.password
	}
	if vhost, _ := strings.CutPrefix(p.path, "/"); vhost != "" {
		ep.VHost = vhost
	}
	if p.scheme == "amqps" {
		if ep.TLS, err = tlsConfig(p); err != nil {
			return AMQPEndpoint{}, err
		}
	}
	return ep, nil
}
