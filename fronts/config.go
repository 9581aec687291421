package fronts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"keyward/front"
	"keyward/iamauth"
	"keyward/sigv4"
)

// Spec is what one front serves.
type Spec struct {
	// ID is the node's id (engine.NodeSpec.ID).
	ID string `json:"id"`
	// Backend is the node's address: "unix:<path>" for its private Unix
	// socket (keyward's choice), or host:port (TLS) for a node that has no
	// socket yet; BackendProcess names the socket's server (see
	// front.Server.BackendProcess).
	Backend        string `json:"backend"`
	BackendProcess string `json:"backendProcess,omitempty"`
	// Resource is the cache the node belongs to; CacheID identifies it for
	// front.Secret (keyward uses the cache's ARN).
	Resource iamauth.Resource `json:"resource"`
	CacheID  string           `json:"cacheId"`

	// Host is the address the front listens on, at its port (see
	// Manager.Reserve): the node's own; "" for 127.0.0.1.
	Host string `json:"host,omitempty"`
	// Binds are further addresses, space-separated, the front listens on
	// at its port: the group's primary or reader endpoint while its node
	// holds that role. A change restarts the front.
	Binds string `json:"binds,omitempty"`
	// Plaintext serves plain-text clients too (front.Server.Plaintext):
	// the cache's TransitEncryptionMode is preferred. A change restarts
	// the front, which closes its connections, as ElastiCache drops the
	// unencrypted ones when the mode becomes required.
	Plaintext bool `json:"plaintext,omitempty"`
}

// config is front.json: a Spec plus what the Manager fills in.
type config struct {
	Spec
	Port int `json:"port"`
	// Credentials fingerprints the credentials the front was started with
	// (a keyed hash, see credentialsID), so that a change restarts it.
	Credentials string `json:"credentials"`
	CertFile    string `json:"certFile"`
	KeyFile     string `json:"keyFile"`
	CAFile      string `json:"caFile"`
}

// addrs returns the addresses the front listens on, its own first.
func (c config) addrs() []string {
	host := c.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := strconv.Itoa(c.Port)
	out := []string{net.JoinHostPort(host, port)}
	for _, b := range strings.Fields(c.Binds) {
		out = append(out, net.JoinHostPort(b, port))
	}
	return out
}

// listenAll binds every address of c (retrying, see listenRetry).
func listenAll(ctx context.Context, c config) ([]net.Listener, error) {
	var ls []net.Listener
	for _, a := range c.addrs() {
		l, err := listenRetry(ctx, a)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func readConfig(dir string) (config, error) {
	var c config
	b, err := os.ReadFile(filepath.Join(dir, "front.json"))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("fronts: %s: %w", dir, err)
	}
	return c, nil
}

// server builds the front.Server for a configuration. keyDir holds the key
// shared by every front; creds are the SigV4 credentials tokens are
// verified with (none: unauthenticated mode, see iamauth.Verifier.Unsigned).
func server(c config, keyDir string, creds []sigv4.Credential) (*front.Server, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("fronts: certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("fronts: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("fronts: CA file holds no certificate")
	}
	key, err := readKey(filepath.Join(keyDir, "key"))
	if err != nil {
		return nil, err
	}
	// No credentials is keyward's unauthenticated mode: tokens are checked
	// for everything but their signature, as API requests are.
	v := &iamauth.Verifier{Unsigned: true}
	if len(creds) > 0 {
		v = &iamauth.Verifier{SigV4: sigv4.NewVerifier(creds)}
	}
	return &front.Server{
		TLS:            &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Backend:        c.Backend,
		BackendProcess: c.BackendProcess,
		BackendTLS:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Resource:       c.Resource,
		Verifier:       v,
		Key:            key,
		CacheID:        c.CacheID,
		Plaintext:      c.Plaintext,
	}, nil
}

// readCredentials reads the credentials a front process gets on its
// standard input (JSON), so that they are never written to disk.
func readCredentials(r io.Reader) ([]sigv4.Credential, error) {
	var creds []sigv4.Credential
	if err := json.NewDecoder(r).Decode(&creds); err != nil {
		return nil, errors.New("fronts: credentials on standard input: not a JSON list")
	}
	if err := sigv4.ValidateCredentials(creds); err != nil {
		return nil, fmt.Errorf("fronts: %w", err)
	}
	return creds, nil
}
