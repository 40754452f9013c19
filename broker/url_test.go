package broker

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		master string
		want   Endpoint
		tls    bool
		skip   bool // want TLS InsecureSkipVerify
	}{
		{"plain", "redis://localhost", "", Endpoint{Network: "tcp", Addrs: []string{"localhost:6379"}}, false, false},
		{"port db", "redis://redis:6380/3", "", Endpoint{Network: "tcp", Addrs: []string{"redis:6380"}, DB: 3}, false, false},
		{"empty host", "redis://", "", Endpoint{Network: "tcp", Addrs: []string{"localhost:6379"}}, false, false},
		{"trailing slash", "redis://h/", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}}, false, false},
		{"user pass", "redis://alice:s3cr3t@h:1/2", "", Endpoint{Network: "tcp", Addrs: []string{"h:1"}, Username: "alice", Password: "s3cr3t", DB: 2}, false, false},
		{"password only", "redis://:s3cr3t@h", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}, Password: "s3cr3t"}, false, false},
		{"escaped password", "redis://:p%40ss%2Fw@h", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}, Password: "p@ss/w"}, false, false},
		{"unescaped at in password", "redis://:p@ss@h", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}, Password: "p@ss"}, false, false},
		{"password query", "redis://h?password=s3cr3t", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}, Password: "s3cr3t"}, false, false},
		{"virtual_host", "redis://h?virtual_host=5", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}, DB: 5}, false, false},
		{"ipv6", "redis://[::1]:7000/1", "", Endpoint{Network: "tcp", Addrs: []string{"[::1]:7000"}, DB: 1}, false, false},
		{"transport options ignored", "redis://h/0?visibility_timeout=43200", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}}, false, false},
		{"rediss default", "rediss://:pw@h:6380/0", "", Endpoint{Network: "tcp", Addrs: []string{"h:6380"}, Password: "pw"}, true, false},
		{"rediss required", "rediss://h?ssl_cert_reqs=required", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}}, true, false},
		{"rediss CERT_OPTIONAL", "rediss://h?ssl_cert_reqs=CERT_OPTIONAL", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}}, true, false},
		{"rediss none", "rediss://h?ssl_cert_reqs=none", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}}, true, true},
		{"rediss CERT_NONE", "rediss://h/1?ssl_cert_reqs=CERT_NONE", "", Endpoint{Network: "tcp", Addrs: []string{"h:6379"}, DB: 1}, true, true},
		{"unix", "unix:///run/redis.sock", "", Endpoint{Network: "unix", Addrs: []string{"/run/redis.sock"}}, false, false},
		{"unix db", "unix:///run/redis.sock?db=4", "", Endpoint{Network: "unix", Addrs: []string{"/run/redis.sock"}, DB: 4}, false, false},
		{"unix password", "unix://:pw@/run/redis.sock?virtual_host=2", "", Endpoint{Network: "unix", Addrs: []string{"/run/redis.sock"}, DB: 2, Password: "pw"}, false, false},
		{"redis+socket", "redis+socket:///tmp/r.sock?virtual_host=7", "", Endpoint{Network: "unix", Addrs: []string{"/tmp/r.sock"}, DB: 7}, false, false},
		{"sentinel list", "sentinel://:pw@s1:26379/2;sentinel://s2;sentinel://s3:26380", "mymaster",
			Endpoint{Network: "tcp", Addrs: []string{"s1:26379", "s2:26379", "s3:26380"}, Password: "pw", DB: 2, Sentinel: true, MasterName: "mymaster"}, false, false},
		{"sentinel master from query", "sentinel://s1?master_name=m1", "",
			Endpoint{Network: "tcp", Addrs: []string{"s1:26379"}, Sentinel: true, MasterName: "m1"}, false, false},
		{"sentinel option wins", "sentinel://s1?master_name=m1", "m2",
			Endpoint{Network: "tcp", Addrs: []string{"s1:26379"}, Sentinel: true, MasterName: "m2"}, false, false},
		{"sentinel list spaces", "sentinel://s1:26379; sentinel://s2:26379", "m",
			Endpoint{Network: "tcp", Addrs: []string{"s1:26379", "s2:26379"}, Sentinel: true, MasterName: "m"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseURL(tt.raw, tt.master)
			if err != nil {
				t.Fatalf("ParseURL(%q) error: %v", tt.raw, err)
			}
			if (got.TLS != nil) != tt.tls {
				t.Fatalf("ParseURL(%q).TLS = %v, want TLS %v", tt.raw, got.TLS, tt.tls)
			}
			if got.TLS != nil && got.TLS.InsecureSkipVerify != tt.skip {
				t.Errorf("InsecureSkipVerify = %v, want %v", got.TLS.InsecureSkipVerify, tt.skip)
			}
			got.TLS = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseURL(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	const secret = "hunter2secret"
	tests := []struct {
		name, raw, master, wantIn string
	}{
		{"empty", "", "", "empty"},
		{"amqp", "amqp://guest:" + secret + "@rabbit:5672//", "", "unsupported scheme"},
		{"garbage", "not a url " + secret, "", "no scheme"},
		{"bad port", "redis://:" + secret + "@h:notaport/0", "", "bad port"},
		{"port range", "redis://:" + secret + "@h:70000", "", "bad port"},
		{"bad db", "redis://:" + secret + "@h/abc", "", "bad db"},
		{"negative db", "redis://h?virtual_host=-1&password=" + secret, "", "bad db"},
		{"bad escape", "redis://:" + secret + "%zz@h", "", "bad escape in password"},
		{"sentinel no master", "sentinel://:" + secret + "@s1;sentinel://s2", "", "master name"},
		{"redis list", "redis://:" + secret + "@a;redis://:" + secret + "@b", "", "only for sentinel"},
		{"mixed list", "sentinel://:" + secret + "@a;redis://b", "m", "sentinel:// for every"},
		{"bad cert reqs", "rediss://:" + secret + "@h?ssl_cert_reqs=maybe", "", "ssl_cert_reqs"},
		{"missing ca", "rediss://:" + secret + "@h?ssl_ca_certs=/nonexistent/ca.pem", "", "ssl_ca_certs"},
		{"socket without path", "unix://:" + secret + "@", "", "without a path"},
		{"bad ipv6", "redis://:" + secret + "@::1:6379", "", "brackets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseURL(tt.raw, tt.master)
			if err == nil {
				t.Fatalf("ParseURL(%q) = nil error, want one", tt.raw)
			}
			if !errors.Is(err, ErrInvalidURL) {
				t.Errorf("error %q does not wrap ErrInvalidURL", err)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks the password: %q", msg)
			}
			if !strings.Contains(msg, tt.wantIn) {
				t.Errorf("error %q does not mention %q", msg, tt.wantIn)
			}
			if tt.raw != "" && !strings.Contains(msg, "accepted forms") {
				t.Errorf("error %q does not name the accepted forms", msg)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://:s3cr3t@h:6379/0", "redis://:***@h:6379/0"},
		{"redis://alice:s3cr3t@h/0", "redis://alice:***@h/0"},
		{"redis://s3cr3t@h/0", "redis://***@h/0"},
		{"redis://h/0?password=s3cr3t", "redis://h/0?password=***"},
		{"redis://h/0?a=1&password=s3cr3t&b=2", "redis://h/0?a=1&password=***&b=2"},
		{"redis://h/0?sentinel_password=s3cr3t", "redis://h/0?sentinel_password=***"},
		{"sentinel://:s3cr3t@a:26379;sentinel://:s3cr3t@b:26379?master_name=m",
			"sentinel://:***@a:26379;sentinel://:***@b:26379?master_name=m"},
		{"redis://:p@ss/w:rd@h/0", "redis://:***@h/0"},
		{"redis://:s3c;r3t@h/0", "redis://:***@h/0"},
		{"redis://:s3cr3t%zz@h:bad/0", "redis://:***@h:bad/0"},
		{"amqp://guest:s3cr3t@rabbit//", "amqp://guest:***@rabbit//"},
		{"garbage :s3cr3t@ with no scheme", "garbage :***@ with no scheme"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.raw); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.raw, got, tt.want)
		}
		if strings.Contains(Redact(tt.raw), "s3cr3t") || strings.Contains(Redact(tt.raw), "r3t") {
			t.Errorf("Redact(%q) leaks the password", tt.raw)
		}
	}
}
