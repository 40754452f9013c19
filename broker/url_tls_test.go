package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed certificate and its key as PEM files.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestParseURLTLSFiles(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	q := url.Values{"ssl_cert_reqs": {"CERT_REQUIRED"}, "ssl_ca_certs": {certFile}, "ssl_certfile": {certFile}, "ssl_keyfile": {keyFile}}
	ep, err := ParseURL("rediss://:pw@redis.example:6380/1?"+q.Encode(), "")
	if err != nil {
		t.Fatalf("ParseURL() error: %v", err)
	}
	if ep.TLS == nil || ep.TLS.RootCAs == nil || len(ep.TLS.Certificates) != 1 || ep.TLS.InsecureSkipVerify {
		t.Fatalf("TLS = %+v, want RootCAs, one client certificate, verification on", ep.TLS)
	}
	if ep.TLS.ServerName != "redis.example" {
		t.Errorf("ServerName = %q, want redis.example", ep.TLS.ServerName)
	}
	// A key file that is not a key is a clear error.
	q.Set("ssl_keyfile", certFile)
	if _, err := ParseURL("rediss://h?"+q.Encode(), ""); err == nil {
		t.Error("ParseURL() with a bad ssl_keyfile succeeded")
	}
}
