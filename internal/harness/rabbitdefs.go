package harness

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// definitions is a RabbitMQ definitions document (imported at boot) with
// the user guest/guest (a node that imports definitions creates no default
// user) and the vhost "/" and vhosts, each with every permission for guest.
func definitions(vhosts []string) (string, error) {
	type user struct {
		Name         string `json:"name"`
		PasswordHash string `json:"password_hash"`
		Algorithm    string `json:"hashing_algorithm"`
		Tags         string `json:"tags"`
	}
	type vhost struct {
		Name string `json:"name"`
	}
	type permission struct {
		User      string `json:"user"`
		VHost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}
	hash, err := passwordHash("guest")
	if err != nil {
		return "", err
	}
	doc := struct {
		Users       []user       `json:"users"`
		VHosts      []vhost      `json:"vhosts"`
		Permissions []permission `json:"permissions"`
	}{Users: []user{{"guest", hash, "rabbit_password_hashing_sha256", "administrator"}}}
	for _, name := range append([]string{"/"}, vhosts...) {
		doc.VHosts = append(doc.VHosts, vhost{name})
		doc.Permissions = append(doc.Permissions, permission{"guest", name, ".*", ".*", ".*"})
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

// passwordHash is RabbitMQ's rabbit_password_hashing_sha256 form of
// password: base64(salt ++ sha256(salt ++ password)), a 4-byte salt.
func passwordHash(password string) (string, error) {
	salt := make([]byte, 4)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(append([]byte(nil), salt...), password...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...)), nil
}
