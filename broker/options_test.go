package broker

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// TestClientOptions: plain, unix-socket and sentinel clients get the same
// settings from clientOptions (no connection is made).
func TestClientOptions(t *testing.T) {
	tests := []struct {
		url, network, addr, password string
	}{
		{"redis://:pw@10.0.0.1:6380/3", "tcp", "10.0.0.1:6380", "pw"},
		{"redis+socket:///run/redis.sock?virtual_host=3", "unix", "/run/redis.sock", ""},
		{"sentinel://:pw@10.0.0.1:26379/3;sentinel://10.0.0.2:26379?master_name=mymaster", "", "FailoverClient", "pw"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			ep, err := ParseURL(tt.url, "")
			if err != nil {
				t.Fatalf("ParseURL(%q) = %v", tt.url, err)
			}
			c := newClient(ep, connSetup{protocol: 2})
			defer c.Close()
			o := c.(*redis.Client).Options()
			if tt.network != "" && o.Network != tt.network {
				t.Errorf("Network = %q, want %q", o.Network, tt.network)
			}
			if o.Addr != tt.addr {
				t.Errorf("Addr = %q, want %q", o.Addr, tt.addr)
			}
			if o.Password != tt.password {
				t.Errorf("Password = %q, want %q", o.Password, tt.password)
			}
			if o.DB != 3 || o.Protocol != 2 || o.DialTimeout != DefaultDialTimeout || o.ReadTimeout != DefaultIOTimeout ||
				o.WriteTimeout != DefaultIOTimeout || o.MaxRetries != 1 || o.DialerRetries != 1 || o.PoolSize != 4 || !o.DisableIdentity {
				t.Errorf("options = %+v, want the shared settings on DB 3 with RESP2", o)
			}
			if ep.Sentinel {
				return // a failover client never asks for maintenance notifications
			}
			if m := o.MaintNotificationsConfig; m == nil || m.Mode != maintnotifications.ModeDisabled {
				t.Errorf("MaintNotificationsConfig = %+v, want disabled", m)
			}
		})
	}
}
