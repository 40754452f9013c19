package broker

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAMQPURL(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want []AMQPEndpoint // TLS compared as present or not
		tls  bool
	}{
		{"amqp://", []AMQPEndpoint{{Addr: "localhost:5672", Username: "guest", Password: "guest", VHost: "/"}}, false},
		{"amqp://u:p@rabbit:5673//", []AMQPEndpoint{{Addr: "rabbit:5673", Username: "u", Password: "p", VHost: "/"}}, false},
		{"pyamqp://u:p%40ss@rabbit/", []AMQPEndpoint{{Addr: "rabbit:5672", Username: "u", Password: "p@ss", VHost: "/"}}, false},
		{"librabbitmq://rabbit/prod", []AMQPEndpoint{{Addr: "rabbit:5672", Username: "guest", Password: "guest", VHost: "prod"}}, false},
		{"amqp://rabbit/%2Fteam", []AMQPEndpoint{{Addr: "rabbit:5672", Username: "guest", Password: "guest", VHost: "/team"}}, false},
		{"amqps://u:p@rabbit?ssl_cert_reqs=none", []AMQPEndpoint{{Addr: "rabbit:5671", Username: "u", Password: "p", VHost: "/"}}, true},
		{"amqp://u:p@r1//;amqp://u:p@r2:5680//", []AMQPEndpoint{
			{Addr: "r1:5672", Username: "u", Password: "p", VHost: "/"},
			{Addr: "r2:5680", Username: "u", Password: "p", VHost: "/"}}, false},
		{"AMQP://[::1]:5672/v", []AMQPEndpoint{{Addr: "[::1]:5672", Username: "guest", Password: "guest", VHost: "v"}}, false},
	} {
		got, err := ParseAMQPURL(tc.raw)
		if err != nil {
			t.Errorf("ParseAMQPURL(%q) = %v", tc.raw, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseAMQPURL(%q) = %d endpoints, want %d", tc.raw, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if (got[i].TLS != nil) != tc.tls {
				t.Errorf("ParseAMQPURL(%q)[%d]: TLS %v, want %v", tc.raw, i, got[i].TLS != nil, tc.tls)
			}
			got[i].TLS = nil
			if got[i] != tc.want[i] {
				t.Errorf("ParseAMQPURL(%q)[%d] = %+v, want %+v", tc.raw, i, got[i], tc.want[i])
			}
		}
	}
}

func TestParseAMQPURLErrors(t *testing.T) {
	const secret = "s3cret-pw"
	for _, tc := range []struct {
		raw, want string
	}{
		{"", "empty"},
		{secret, "not a URL"},
		{"amqp://u:" + secret + "@host:99999//", "bad port"},
		{"amqp://u:" + secret + "@h//;redis://h", "every URL of an AMQP list"},
		{"amqps://u:" + secret + "@h?ssl_cert_reqs=maybe", "ssl_cert_reqs"},
	} {
		_, err := ParseAMQPURL(tc.raw)
		switch {
		case err == nil:
			t.Errorf("ParseAMQPURL(%q) = nil error, want %q", tc.raw, tc.want)
		case !errors.Is(err, ErrInvalidURL) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "accepted forms: amqp://"):
			t.Errorf("ParseAMQPURL(%q) = %v; want ErrInvalidURL saying %q and the accepted forms", tc.raw, err, tc.want)
		case strings.Contains(err.Error(), secret):
			t.Errorf("ParseAMQPURL(%q) error leaks the password: %v", tc.raw, err)
		}
	}
}

func TestIsAMQP(t *testing.T) {
	for raw, want := range map[string]bool{
		"amqp://h//": true, " pyamqp://h": true, "librabbitmq://h": true, "AMQPS://h": true,
		"redis://h": false, "sentinel://h;amqp://h": false, "amqp": false, "": false,
	} {
		if got := IsAMQP(raw); got != want {
			t.Errorf("IsAMQP(%q) = %v, want %v", raw, got, want)
		}
	}
}
